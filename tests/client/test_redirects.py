"""Redirects: followed only within the origin of the URL asked for (docs/client.md).

A mirror is untrusted. If the client followed its redirects anywhere, a mirror could
make it send requests to loopback or internal services (blind SSRF) or, behind the
proxy, to the proxy's own URLs. Each test points a mirror's redirect at a recording
server standing for such a service, and checks that nothing reached it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tuf_pypi.client import AllMirrorsFailedError, UnavailableError
from tuf_pypi.client.fetcher import MAX_REDIRECTS, same_origin
from tuf_pypi.testing.mirror_server import MirrorServer, Serve, redirect, replace
from tuf_pypi.testing.signed_index import Index

from .checks import PROJECT, Action, MakeClient, page_bytes, refused, wheel_bytes


@pytest.fixture
def internal(tmp_path: Path) -> Iterator[MirrorServer]:
    """A service on loopback that no mirror should be able to reach through the client."""
    (tmp_path / "internal").mkdir()
    server = MirrorServer(tmp_path / "internal")
    yield server
    server.stop()


def _target(index: Index, what: str) -> str:
    if what == "timestamp":
        return index.role_path("timestamp")
    if what == "page":
        return index.page_path(PROJECT)
    return index.wheel(PROJECT)[0]


def _action(what: str, tmp_path: Path) -> Action:
    return wheel_bytes(tmp_path / "dl") if what == "wheel" else page_bytes


@pytest.mark.parametrize("what", ["timestamp", "page", "wheel"])
@pytest.mark.parametrize("elsewhere", ["other-port", "scheme-relative", "localhost-alias"])
def test_redirect_off_the_mirror_is_refused(
    index: Index,
    serve: Serve,
    make_client: MakeClient,
    internal: MirrorServer,
    tmp_path: Path,
    what: str,
    elsewhere: str,
) -> None:
    bad, honest = serve(index), serve(index)
    path = _target(index, what)
    if elsewhere == "other-port":  # another service on loopback
        location = f"{internal.url}admin/{path}"
    elif elsewhere == "scheme-relative":  # //host:port/path, relative only in looks
        location = f"//127.0.0.1:{internal.server_address[1]}/admin/{path}"
    else:  # the same port under another name is another origin too
        location = f"http://localhost:{bad.server_address[1]}/{path}"
    bad.hooks[path] = redirect(location)
    action = _action(what, tmp_path)
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        action(make_client(bad))
    assert internal.requests == []
    refused(excinfo, UnavailableError)
    assert "redirect to" in str(excinfo.value) and "refused" in str(excinfo.value)
    # Refused like a dead mirror: the next one serves.
    expected = index.page_bytes(PROJECT) if what != "wheel" else index.wheel(PROJECT)[1]
    assert action(make_client(bad, honest)) == expected
    assert internal.requests == []
    assert bad.count(path) == 2  # the client asked once per run, and followed nothing


def test_redirect_within_the_mirror_is_followed(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    mirror = serve(index)
    rel, data = index.wheel(PROJECT)
    name = rel.rsplit("/", 1)[1]
    # A relative redirect, then an absolute one to the same scheme, host and port.
    mirror.hooks[rel] = redirect(f"/moved/{name}", 301)
    mirror.hooks[f"moved/{name}"] = redirect(f"{mirror.url}cdn/{name}", 307)
    mirror.hooks[f"cdn/{name}"] = replace(data)
    assert wheel_bytes(tmp_path / "dl")(make_client(mirror)) == data
    assert mirror.count(f"cdn/{name}") == 1


def test_redirect_loop_is_bounded(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    mirror = serve(index)
    rel, _ = index.wheel(PROJECT)
    mirror.hooks[rel] = redirect(f"/{rel}")
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        wheel_bytes(tmp_path / "dl")(make_client(mirror))
    refused(excinfo, UnavailableError)
    assert f"more than {MAX_REDIRECTS} redirects" in str(excinfo.value)
    assert mirror.count(rel) == MAX_REDIRECTS + 1


def test_same_origin() -> None:
    assert same_origin("http://m.example/a", "HTTP://M.example:80/b")
    assert same_origin("https://m.example/a", "https://m.example:443/")
    assert not same_origin("https://m.example/", "http://m.example/")
    assert not same_origin("http://m.example/", "http://m.example:8080/")
    assert not same_origin("http://127.0.0.1:9/", "http://localhost:9/")
    assert not same_origin("http://m.example/", "http://m.example.evil/")
