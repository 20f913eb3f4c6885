"""Fixtures: the session's signed index in other states, mirrors on 127.0.0.1, clients.

Building an index costs a few seconds (key derivation), so each state is built once
and every test gets its own copy to serve and alter. ``base_index`` and ``newer_index``
are in tests/conftest.py (tests/proxy uses them too).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from tuf_pypi.client import Client, Limits
from tuf_pypi.keys import load_key_file_signer
from tuf_pypi.testing.limits import FAST
from tuf_pypi.testing.mirror_server import MirrorServer, Serve
from tuf_pypi.testing.signed_index import PASSPHRASE, Index, utcnow

from .checks import MakeClient


@pytest.fixture(autouse=True)
def _no_proxy(no_proxy_for_local_mirrors: None) -> None:
    """Every test here talks to mirrors on 127.0.0.1."""


@pytest.fixture
def serve(serve_index: Serve) -> Serve:
    """Here ``serve`` starts a mirror of an index (not of a directory)."""
    return serve_index


@pytest.fixture(scope="session")
def frozen_index(base_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Index:
    """The index re-signed 30 days ago: validly signed, every online role expired."""
    index = base_index.copy(tmp_path_factory.mktemp("frozen") / "index")
    index.resign(now=utcnow() - timedelta(days=30))
    return index


@pytest.fixture(scope="session")
def online_signer(base_index: Index) -> Signer:
    """The online key, as an attacker who stole it from the publishing host has it."""
    return load_key_file_signer(base_index.keys / "online.key", PASSPHRASE)


@pytest.fixture
def index(base_index: Index, tmp_path: Path) -> Index:
    return base_index.copy(tmp_path / "index")


@pytest.fixture
def newer(newer_index: Index, tmp_path: Path) -> Index:
    return newer_index.copy(tmp_path / "newer")


@pytest.fixture
def make_client(base_index: Index, tmp_path: Path) -> Iterator[MakeClient]:
    """A Client over the given mirrors (servers or URLs), pinned to the sample's root.

    Each client gets a fresh cache unless ``cache`` is given.
    """
    clients: list[Client] = []
    fresh = itertools.count()

    def factory(
        *mirrors: MirrorServer | str,
        cache: Path | None = None,
        limits: Limits = FAST,
        root: bytes | None = None,
    ) -> Client:
        urls = [m if isinstance(m, str) else m.url for m in mirrors]
        client = Client(
            urls,
            root or base_index.root_bytes,
            cache or tmp_path / f"cache-{next(fresh)}",
            limits=limits,
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
