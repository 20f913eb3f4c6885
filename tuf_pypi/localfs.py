"""Atomic writes and exclusive locks on the local file system.

Shared by the publisher (``repository/storage.py``) and the mirror tools
(``client/mirror_tree.py``): both write trees that a static server may be serving
at that very moment, so a reader must only ever see a whole old file or a whole new
one, and both must keep a second writer out. Neither side imports the other
(DESIGN §7); both import this.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TEMP_PREFIX", "LockBusy", "exclusive_lock", "fsync_dir", "write_atomic"]

#: Temporary files start with this (a dotfile: web servers can refuse to serve them);
#: any left behind are debris of a crash.
TEMP_PREFIX = ".tuf-pypi-tmp-"


class LockBusy(Exception):
    """The lock is held by another process and the caller chose not to wait."""


def write_atomic(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory and a rename.

    With ``durable`` the file is fsynced before the rename, so after a power cut the
    name points at the whole new file or the old one. Without it the caller must make
    the batch durable itself (``bulk.sync_filesystem``) before referring to it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: writers run in several of both.
    tmp = path.parent / f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{threading.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so the renames in it survive a power cut."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def exclusive_lock(lock_file: Path, wait: bool = True) -> Iterator[None]:
    """Hold an flock on ``lock_file``; raise LockBusy at once if ``wait`` is false.

    A kernel lock is released when its process dies, so a crash never leaves a
    stale lock behind.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LockBusy(str(lock_file)) from None
            raise
        yield
    finally:
        os.close(fd)
