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

Every directory of the cache must belong to the client's user and be writable by no
one else (:func:`check_private`): a cache prepared by another local user (say mode
0777 in /tmp) is refused, not trusted.

A cache is for one index (one pinned root). Pointing two indexes at one directory is
safe (the other's metadata fails verification and is fetched again) but wasteful.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from .errors import SetupError

__all__ = ["CacheDir", "check_private", "default_cache_dir"]


class CacheDir:
    """Paths inside one cache directory, and the lock that serialises metadata access."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.metadata_dir = self.root / "metadata"
        self.pages_dir = self.root / "pages"
        self.lock_file = self.root / ".lock"

    def create(self) -> None:
        """Create the directories (private to the user: they hold what the client trusts).

        An existing cache must be owned by this user and writable by nobody else, or
        another local user could replace the trusted metadata, or a verified file
        in place, under the client: :class:`SetupError` says which directory and how
        to fix it.
        """
        try:
            for directory in (self.root, self.metadata_dir, self.pages_dir):
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                check_private(directory)
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


def check_private(directory: Path) -> None:
    """Refuse ``directory`` unless it is a directory of this user, writable only by it.

    A symlink is judged by the directory it points to (a user may link ``--cache``
    elsewhere; a link planted by someone else leads to a directory they own).
    """
    info = directory.stat()
    uid = os.geteuid()
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != uid:
        problem = f"is owned by uid {info.st_uid}, not by this user (uid {uid})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"is writable by others (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem is not None:
        raise SetupError(
            f"cache directory {directory} {problem}: other users could change what the "
            "client trusts. Use a directory of your own with mode 0700 "
            f"(chown {uid} {directory}; chmod 700 {directory}), or another --cache"
        )


def default_cache_dir(root: bytes) -> Path:
    """One cache per pinned root, under ``$XDG_CACHE_HOME/tuf-pypi`` (``~/.cache``).

    Keyed by the root's hash: two indexes (or a staging and a production root)
    never share trusted metadata.
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tuf-pypi" / hashlib.sha256(root).hexdigest()[:16]
