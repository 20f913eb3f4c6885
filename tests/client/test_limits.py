"""Endless data, gzip bombs, slow retrieval, silence and dead mirrors: each bounded,
each typed, and each survived by failing over to the next mirror."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from tuf_pypi.client import (
    AllMirrorsFailedError,
    Client,
    TooLargeError,
    TooSlowError,
    UnavailableError,
)
from tuf_pypi.testing.limits import FAST, SLOW_CHECK
from tuf_pypi.testing.mirror_server import (
    Serve,
    closed_port_url,
    endless,
    gzip_bomb,
    gzipped,
    replace,
    stall,
    status,
    trickle,
)
from tuf_pypi.testing.signed_index import Index

from .checks import PROJECT, MakeClient, page_bytes, refused, wheel_bytes

# -- endless data ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "bins", "bin"])
def test_endless_metadata(index: Index, serve: Serve, make_client: MakeClient, role: str) -> None:
    # timestamp: bounded by the configured maximum; snapshot: by the length the
    # timestamp signs; targets, bins and bin-n: by the configured maximum.
    path = index.role_path(index.bin_of(PROJECT) if role == "bin" else role)
    bad, honest = serve(index), serve(index)
    bad.hooks[path] = endless()
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad))
    refused(excinfo, TooLargeError)
    assert page_bytes(make_client(bad, honest)) == index.page_bytes(PROJECT)


@pytest.mark.parametrize("form", ["index.v1_json", "index.html"])
def test_endless_page(index: Index, serve: Serve, make_client: MakeClient, form: str) -> None:
    bad, honest = serve(index), serve(index)
    bad.hooks[index.page_path(PROJECT, form)] = endless()

    def action(client: Client) -> bytes:
        return client.page(PROJECT, form).data

    with pytest.raises(AllMirrorsFailedError) as excinfo:
        action(make_client(bad))
    refused(excinfo, TooLargeError)
    assert action(make_client(bad, honest)) == index.page_bytes(PROJECT, form)


@pytest.mark.parametrize(
    ("form", "limits"),
    [
        pytest.param("index.v1_json", FAST, id="size-from-page"),
        # PEP 503 pages give no size: the configured maximum stops the download.
        pytest.param("index.html", dataclasses.replace(FAST, file_max_bytes=1 << 20), id="max"),
    ],
)
def test_endless_distribution_file(
    index: Index,
    serve: Serve,
    make_client: MakeClient,
    tmp_path: Path,
    form: str,
    limits: object,
) -> None:
    rel, data = index.wheel(PROJECT)
    bad, honest = serve(index), serve(index)
    bad.hooks[rel] = endless()

    def action(client: Client) -> bytes:
        page = client.page(PROJECT, form)
        return client.download(page, page.page.files[0], tmp_path / "dl").read_bytes()

    with pytest.raises(AllMirrorsFailedError) as excinfo:
        action(make_client(bad, limits=limits))
    refused(excinfo, TooLargeError)
    assert "the page gives no size" in str(excinfo.value) or form == "index.v1_json"
    assert action(make_client(bad, honest, limits=limits)) == data
    assert not list((tmp_path / "dl").glob(".*"))  # no partial files left behind


@pytest.mark.parametrize("form", ["index.v1_json", "index.html"])
def test_endless_core_metadata_stops_at_its_own_limit(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path, form: str
) -> None:
    # Pages give a .metadata file's sha256 but never its size: the small limit of its
    # own stops it, not the 8 GiB limit of distribution files.
    rel, _ = index.wheel(PROJECT)
    good = index.read(rel + ".metadata")
    bad, honest = serve(index), serve(index)
    bad.hooks[rel + ".metadata"] = endless()
    dest = tmp_path / "dl"

    def action(client: Client) -> bytes:
        page = client.page(PROJECT, form)
        return client.download_metadata(page, page.page.files[0], dest).read_bytes()

    limit = FAST.metadata_max_bytes
    assert limit <= 16 << 20  # small, as documented
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        action(make_client(bad))
    refused(excinfo, TooLargeError)
    assert f"more than the configured maximum of {limit} bytes" in str(excinfo.value)
    # Cut off early: the client hung up after about the limit (plus socket buffers),
    # and nothing of it is left on disk.
    deadline = time.monotonic() + 10
    while not bad.endless_sent and time.monotonic() < deadline:
        time.sleep(0.01)  # the server notices the hang-up on its next write
    assert bad.endless_sent and bad.endless_sent[0] < limit + (32 << 20)
    assert list(dest.iterdir()) == []
    assert action(make_client(bad, honest)) == good


def test_gzip_bomb_stops_at_the_decompressed_limit(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    bad, honest = serve(index), serve(index)
    bad.hooks["tuf/timestamp.json"] = gzip_bomb()
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad))
    refused(excinfo, TooLargeError)
    assert page_bytes(make_client(bad, honest)) == index.page_bytes(PROJECT)


def test_gzip_encoded_metadata_and_pages_are_accepted(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    mirror = serve(index)
    paths = [index.role_path(role) for role in ("timestamp", "snapshot", "targets", "bins")]
    paths += [index.role_path(index.bin_of(PROJECT)), index.page_path(PROJECT)]
    for path in paths:
        mirror.hooks[path] = gzipped(index.read(path))
    assert page_bytes(make_client(mirror)) == index.page_bytes(PROJECT)


def test_unsupported_content_encoding_is_refused(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    bad = serve(index)
    data = index.read("tuf/timestamp.json")
    bad.hooks["tuf/timestamp.json"] = replace(data, {"Content-Encoding": "br"})
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad))
    refused(excinfo, UnavailableError)


# -- slow retrieval -------------------------------------------------------------------------


def test_trickled_metadata(index: Index, serve: Serve, make_client: MakeClient) -> None:
    bad, honest = serve(index), serve(index)
    bad.hooks["tuf/timestamp.json"] = trickle(index.read("tuf/timestamp.json"))
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad, limits=SLOW_CHECK))
    refused(excinfo, TooSlowError)
    assert "minimum rate" in str(excinfo.value)
    assert page_bytes(make_client(bad, honest, limits=SLOW_CHECK)) == index.page_bytes(PROJECT)


def test_trickled_distribution_file(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    rel, data = index.wheel(PROJECT)
    bad, honest = serve(index), serve(index)
    bad.hooks[rel] = trickle(data)
    action = wheel_bytes(tmp_path / "dl")
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        action(make_client(bad, limits=SLOW_CHECK))
    refused(excinfo, TooSlowError)
    assert action(make_client(bad, honest, limits=SLOW_CHECK)) == data


def test_silent_mirror(index: Index, serve: Serve, make_client: MakeClient) -> None:
    bad, honest = serve(index), serve(index)
    bad.hooks["tuf/timestamp.json"] = stall
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad, limits=SLOW_CHECK))
    refused(excinfo, TooSlowError)
    assert page_bytes(make_client(bad, honest, limits=SLOW_CHECK)) == index.page_bytes(PROJECT)


# -- unavailable mirrors ---------------------------------------------------------------------


def test_unreachable_mirror(index: Index, serve: Serve, make_client: MakeClient) -> None:
    dead = closed_port_url()
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(dead))
    refused(excinfo, UnavailableError)
    assert page_bytes(make_client(dead, serve(index))) == index.page_bytes(PROJECT)


@pytest.mark.parametrize("code", [404, 500, 503])
def test_http_errors(index: Index, serve: Serve, make_client: MakeClient, code: int) -> None:
    bad, honest = serve(index), serve(index)
    bad.hooks[index.page_path(PROJECT)] = status(code)
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad))
    refused(excinfo, UnavailableError)
    assert f"HTTP status {code}" in str(excinfo.value)
    assert page_bytes(make_client(bad, honest)) == index.page_bytes(PROJECT)


def test_every_failure_is_listed_in_order(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    dead = closed_port_url()
    bad = serve(index)
    bad.hooks["tuf/timestamp.json"] = endless()
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        make_client(dead, bad).refresh()
    refused(excinfo, UnavailableError, TooLargeError)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.index(dead) < message.index(bad.url)
