"""Malicious mirrors of the sample index, each next to an honest one.

An attack takes the ``serve`` fixture and the base and newer indexes and returns its
:class:`Setup`; test_attacks.py runs installers against each, test_run.py the
``tuf-pypi run`` command.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from tuf_pypi.client import Client
from tuf_pypi.testing.mirror_server import MirrorServer, Serve, replace
from tuf_pypi.testing.signed_index import Index

__all__ = ["Setup", "rolled_back_metadata", "tampered_page", "tampered_wheel"]


@dataclasses.dataclass(frozen=True)
class Setup:
    """A malicious mirror, an honest one, and what the proxy's cache already trusts."""

    bad: MirrorServer
    honest: MirrorServer
    seed: Callable[[Path], None] = lambda cache: None


def tampered_wheel(serve: Serve, base: Index, newer: Index) -> Setup:
    rel, data = base.wheel("demo-core")
    bad = serve(base)
    bad.hooks[rel] = replace(bytes(len(data)))  # same size, other bytes
    return Setup(bad, serve(base))


def tampered_page(serve: Serve, base: Index, newer: Index) -> Setup:
    bad = serve(base)
    page = base.read(base.page_path("demo-app"))
    bad.hooks[base.page_path("demo-app")] = replace(page.replace(b"demo_app-1.1", b"demo_app-6.6"))
    return Setup(bad, serve(base))


def rolled_back_metadata(serve: Serve, base: Index, newer: Index) -> Setup:
    """The proxy already trusts a newer timestamp; the bad mirror serves the older one."""
    honest = serve(newer)

    def seed(cache: Path) -> None:
        with Client([honest.url], newer.root_bytes, cache) as client:
            client.refresh()

    return Setup(serve(base), honest, seed)
