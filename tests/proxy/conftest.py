"""Fixtures: the session's signed sample index, mirrors serving it, proxies over them.

The index (tests/conftest.py's ``base_index``) is built once per session (key
derivation costs seconds) by the real publisher; mirrors are tuf_pypi.testing's
``MirrorServer`` (a static server with hooks to misbehave per path). Tests that change
files on disk work on a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tuf_pypi.proxy.server import ProxyServer
from tuf_pypi.testing.mirror_server import MirrorServer, Serve
from tuf_pypi.testing.proxy_process import ProxyProcess
from tuf_pypi.testing.signed_index import Index

from .helpers import StartProxy


@pytest.fixture(autouse=True)
def _no_proxy(no_proxy_for_local_mirrors: None) -> None:
    """The proxies under test fetch from mirrors on 127.0.0.1."""


@pytest.fixture
def serve(serve_index: Serve) -> Serve:
    """As in tests/client: a mirror of an index."""
    return serve_index


@pytest.fixture(scope="module")
def mirror(base_index: Index) -> Iterator[MirrorServer]:
    """An honest static mirror of the signed sample index, shared by a module's tests."""
    server = MirrorServer(base_index.repo)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root_file(base_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned root, as an admin would ship it next to the proxy."""
    path = tmp_path_factory.mktemp("root") / "root.json"
    path.write_bytes(base_index.root_bytes)
    return path


@pytest.fixture(scope="module")
def server(
    mirror: MirrorServer,
    base_index: Index,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ProxyServer]:
    """The proxy in this process (a thread) over the honest mirror."""
    cache = tmp_path_factory.mktemp("proxy-cache")
    with ProxyServer([mirror.url], base_index.root_bytes, cache).start() as proxy:
        yield proxy


@pytest.fixture
def start_proxy(tmp_path: Path, root_file: Path) -> Iterator[StartProxy]:
    """Start ``tuf-pypi proxy`` processes over the given mirrors; stopped after the test.

    Each gets a fresh cache unless ``cache`` is given.
    """
    started: list[ProxyProcess] = []

    def factory(*mirrors: MirrorServer | str, cache: Path | None = None) -> ProxyProcess:
        n = len(started)
        urls = [m if isinstance(m, str) else m.url for m in mirrors]
        proxy = ProxyProcess(
            urls, root_file, cache or tmp_path / f"cache-{n}", log=tmp_path / f"proxy-{n}.log"
        )
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        proxy.stop()
