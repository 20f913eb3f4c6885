"""Atomic writes and exclusive locks on the local file system.

Shared by the publisher (``repository/storage.py``) and the mirror tools
(``mirror/tree.py``): both write trees that a static server may be serving
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
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "TEMP_PREFIX",
    "LockBusy",
    "exclusive_lock",
    "fsync_dir",
    "replace_file",
    "replace_with_link",
    "write_atomic",
]

#: Temporary files start with this (a dotfile: web servers can refuse to serve them);
#: any left behind are debris of a crash.
TEMP_PREFIX = ".tuf-pypi-tmp-"


class LockBusy(Exception):
    """The lock is held by another process and the caller chose not to wait."""


def replace_file(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``.

    The parent directory must exist. With ``durable`` the file is fsynced before
    the rename, so after a power cut the name points at the whole new file or the
    old one; without it the caller makes a whole batch durable at once
    (``repository.bulk.sync_filesystem``) before anything refers to it. Plain
    ``os`` calls on strings: this is the publisher's hot path.
    """
    tmp = _temp_name(os.fspath(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


def replace_with_link(source: str, path: str) -> None:
    """Make ``path`` another name of the file ``source``, replacing ``path`` atomically.

    A hard link to a temp name, renamed over ``path``: readers see the old file
    or the new one, never neither. Not durable by itself (see :func:`replace_file`).
    """
    tmp = _temp_name(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)  # debris of a crash of this very process id and thread
    os.link(source, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temp_name(path: str) -> str:
    """A temp file name beside ``path``, unique per process and thread (writers run
    in several of both)."""
    directory, _, name = path.rpartition("/")
    return f"{directory}/{TEMP_PREFIX}{name}.{os.getpid()}.{threading.get_ident()}"


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """:func:`replace_file`, creating the parent directories first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data, durable=durable)


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so the renames in it survive a power cut."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def exclusive_lock(
    lock_file: Path, wait: bool = True, on_wait: Callable[[Path], None] | None = None
) -> Iterator[None]:
    """Hold an flock on ``lock_file``; raise LockBusy at once if ``wait`` is false.

    When the lock is busy and ``wait`` is true, ``on_wait(lock_file)`` is called once
    before blocking, so a command can say what it is waiting for. A kernel lock is
    released when its process dies, so a crash never leaves a stale lock behind.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            if not wait:
                raise LockBusy(str(lock_file)) from None
            if on_wait is not None:
                on_wait(lock_file)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
