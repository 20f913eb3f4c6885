"""Fixtures more than one test directory uses; the helpers behind them are tuf_pypi.testing.

- ``clock``, ``make_repo``: a signed sample repository on a clock tests move
  (tests/repository, queue, mirror, performance, keys).
- ``serve``: a static server over a directory (tests/repository, mirror, keys).
- ``base_index``, ``newer_index``, ``serve_index``, ``no_proxy_for_local_mirrors``: the
  session's signed index and misbehaving mirrors of it (tests/client, proxy, which name
  ``serve_index`` ``serve``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tuf_pypi.testing import serve_directory
from tuf_pypi.testing.clock import Clock
from tuf_pypi.testing.mirror_server import MirrorServer, Serve
from tuf_pypi.testing.signed_index import Index
from tuf_pypi.testing.signed_repo import SignedRepo


@pytest.fixture
def clock() -> Clock[datetime]:
    return Clock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def make_repo(tmp_path: Path, clock: Clock[datetime]) -> Callable[..., SignedRepo]:
    """Build the sample index, init a repository over it; publish unless told not to."""

    def factory(bins: int = 16, publish: bool = True, name: str = "r") -> SignedRepo:
        return SignedRepo.create(tmp_path / name, clock, bins=bins, publish=publish)

    return factory


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """Serve a directory over HTTP on loopback; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(directory: Path) -> str:
        server, url = serve_directory(directory)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_proxy_for_local_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's http_proxy must not capture the mirrors on 127.0.0.1."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def base_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The sample index, initialised and published (timestamp v2)."""
    return Index.build(tmp_path_factory.mktemp("base") / "index")


@pytest.fixture(scope="session")
def newer_index(base_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The same index after one more publish: every online role one version newer.

    It keeps the older files, as a real repository does until ``gc``.
    """
    index = base_index.copy(tmp_path_factory.mktemp("newer") / "index")
    index.resign()
    return index


@pytest.fixture
def serve_index() -> Iterator[Serve]:
    """Start a mirror serving an index's ``repo/``; stopped after the test."""
    servers: list[MirrorServer] = []

    def factory(index: Index) -> MirrorServer:
        server = MirrorServer(index.repo)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
