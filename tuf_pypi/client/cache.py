"""The client's cache directory, shared safely by several processes.

Layout::

    <cache>/metadata/   python-tuf's trusted metadata: root.json (-> root_history/N),
                        timestamp.json, snapshot.json, targets.json, bins.json, bin-*.json
    <cache>/pages/      verified page copies, reused while their signed hash matches
    <cache>/.lock       flock() lock file

The trusted metadata is the client's memory: it is what makes a rollback detectable
on the next run. ngclient writes each file atomically, but a refresh is a sequence of
reads and writes (root chain, timestamp, snapshot, targets) that must not interleave
with another process's, or one could persist a timestamp while the other persists an
older snapshot. So every step that reads or writes ``metadata/`` runs under an
exclusive ``flock`` on ``.lock``. The kernel drops the lock when a process dies, so a
crash never leaves the cache locked.

A cache is for one index (one pinned root). Pointing two indexes at one directory is
safe (the other's metadata fails verification and is fetched again) but wasteful.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from .errors import SetupError

__all__ = ["CacheDir", "default_cache_dir"]


class CacheDir:
    """Paths inside one cache directory, and the lock that serialises metadata access."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.metadata_dir = self.root / "metadata"
        self.pages_dir = self.root / "pages"
        self.lock_file = self.root / ".lock"

    def create(self) -> None:
        """Create the directories (private to the user: they hold what the client trusts)."""
        try:
            for directory in (self.root, self.metadata_dir, self.pages_dir):
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SetupError(f"cache directory {self.root} is not usable: {exc}") from exc

    def page_path(self, target_path: str) -> Path:
        """Where the verified copy of a page target is kept (one file name per target)."""
        return self.pages_dir / quote(target_path, safe="")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive cache lock (blocking until other processes release it)."""
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SetupError(f"cannot open the cache lock {self.lock_file}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def default_cache_dir(root: bytes) -> Path:
    """One cache per pinned root, under ``$XDG_CACHE_HOME/tuf-pypi`` (``~/.cache``).

    Keyed by the root's hash: two indexes (or a staging and a production root)
    never share trusted metadata.
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuf-pypi" / hashlib.sha256(root).hexdigest()[:16]
