"""Helpers shared by the mirror tests: python-tuf's own client pointed at a URL, the
log of a static server, file ages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tuf.ngclient import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from tuf_pypi.testing import ngclient_updater


class ReplayTimestamp(Urllib3Fetcher):
    """A client that fetched ``timestamp.json`` earlier: it gets those bytes again."""

    def __init__(self, timestamp: bytes) -> None:
        super().__init__()
        self.timestamp = timestamp

    def _fetch(self, url: str) -> Iterator[bytes]:
        if url.endswith("/timestamp.json"):
            return iter([self.timestamp])
        return super()._fetch(url)


def ngclient(
    url: str, trusted_root: bytes, cache: Path, fetcher: Urllib3Fetcher | None = None
) -> Updater:
    """python-tuf's ngclient for the index at ``url``, with consistent-snapshot page names."""
    return ngclient_updater(url, trusted_root, cache, fetcher=fetcher)


def fetch_page(updater: Updater, path: str, dest: Path) -> bytes:
    """Refresh (once per updater), look ``path`` up and download it, verified."""
    info = updater.get_targetinfo(path)
    assert info is not None, f"{path} is not a target"
    return Path(updater.download_target(info, str(dest))).read_bytes()


def age(paths: Iterator[Path] | list[Path], seconds: float) -> None:
    """Make files look ``seconds`` older (gc reads mtimes)."""
    for path in paths:
        st = path.stat()
        os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def age_tree(root: Path, seconds: float) -> None:
    age([p for p in root.rglob("*") if p.is_file()], seconds)


@dataclass
class Server:
    """A static HTTP server over a directory, remembering every path it was asked for."""

    url: str
    requests: list[str] = field(default_factory=list)

    def take(self) -> list[str]:
        """The paths requested since the last call."""
        taken, self.requests[:] = list(self.requests), []
        return taken
