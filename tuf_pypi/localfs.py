"""Atomic writes and exclusive locks on the local file system.

Shared by the publisher (``repository/storage.py``) and the mirror tools
(``mirror/tree.py``): both write trees that a static server may be serving
at that very moment, so a reader must only ever see a whole old file or a whole new
one, and both must keep a second writer out. Neither side imports the other
(DESIGN §7); both import this.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "TEMP_PREFIX",
    "FileExistsWithOtherBytes",
    "LockBusy",
    "ReplacedByOther",
    "create_file",
    "exclusive_lock",
    "fsync_dir",
    "open_beneath",
    "replace_file",
    "replace_with_link",
    "swap_file",
    "sync_filesystem",
    "write_all",
    "write_atomic",
]

#: Temporary files start with this (a dotfile: web servers can refuse to serve them);
#: any left behind are debris of a crash.
TEMP_PREFIX = ".tuf-pypi-tmp-"


class LockBusy(Exception):
    """The lock is held by another process and the caller chose not to wait."""


class FileExistsWithOtherBytes(FileExistsError):
    """A create-only write found the name taken by a file with other bytes."""


class ReplacedByOther(Exception):
    """A compare-and-swap replace found another writer's file in place (it was put back)."""


def write_all(fd: int, data: bytes, durable: bool = False) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less), then fsync if asked."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if durable:
        os.fsync(fd)


def _write_temp(path: str, data: bytes, durable: bool) -> str:
    """``data`` in a fresh temp file beside ``path`` (fsynced if ``durable``); its name."""
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data, durable)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def create_file(path: str | Path, data: bytes, *, durable: bool = True) -> bool:
    """Write ``data`` at ``path`` only if no file has that name yet (create-only).

    The file is written unnamed (``O_TMPFILE``) and then given its name with
    ``linkat``, or, where that is missing, written to a temp file renamed with
    ``renameat2(RENAME_NOREPLACE)`` (or hard-linked). Either way the name appears
    atomically with the whole file, and naming fails with EEXIST instead of
    replacing: a versioned file (``N.bin-XXXX.json``, a page copy) once written is
    never replaced by other bytes, whoever races for the name. The unnamed file
    costs one directory operation instead of two (create and rename), which is
    most of what writing 16,384 bins costs on ext4.

    Returns False when the name already holds exactly ``data``; raises
    :class:`FileExistsWithOtherBytes` when it holds other bytes.
    """
    path = os.fspath(path)
    try:
        if _create_unnamed(path, data, durable):
            return True
    except FileExistsError:
        if _same_bytes(path, data):
            return False
        raise FileExistsWithOtherBytes(errno.EEXIST, "exists with other bytes", path) from None
    tmp = _write_temp(path, data, durable)
    try:
        if _rename_noreplace(tmp, path):
            tmp = ""
            return True
    except FileExistsError:
        if _same_bytes(path, data):
            return False
        raise FileExistsWithOtherBytes(errno.EEXIST, "exists with other bytes", path) from None
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return True  # linked: the temp name is gone too (finally)


_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_AT_SYMLINK_FOLLOW = 0x400
#: Set once ``O_TMPFILE`` + ``linkat`` is found not to work here (then temp files).
_no_unnamed: list[bool] = []


def _create_unnamed(path: str, data: bytes, durable: bool) -> bool:
    """Write ``data`` as an unnamed file in ``path``'s directory and link it to ``path``.

    False when this file system or system cannot (the caller falls back);
    FileExistsError when the name is taken.
    """
    libc = _c()
    if not _O_TMPFILE or _no_unnamed or libc is None:
        return False
    directory = os.path.dirname(path) or "."
    try:
        fd = os.open(directory, _O_TMPFILE | os.O_WRONLY, 0o644)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS):
            _no_unnamed.append(True)
            return False
        raise
    try:
        write_all(fd, data, durable)
        source = f"/proc/self/fd/{fd}".encode()
        if libc.linkat(_AT_FDCWD, source, _AT_FDCWD, path.encode(), _AT_SYMLINK_FOLLOW) != 0:
            code = ctypes.get_errno()
            if code == errno.EEXIST:
                raise FileExistsError(code, os.strerror(code), path)
            # No /proc, or links not allowed here (the directory itself exists).
            if code in (errno.ENOENT, errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP) and (
                os.path.isdir(directory)
            ):
                _no_unnamed.append(True)
                return False
            raise OSError(code, os.strerror(code), path)
        return True
    finally:
        os.close(fd)


_RENAME_NOREPLACE = 1


def _rename_noreplace(tmp: str, path: str) -> bool:
    """Rename ``tmp`` to ``path`` unless ``path`` exists (FileExistsError).

    True if renamed; False if it was hard-linked instead (``tmp`` still to remove).
    """
    libc = _c()
    renameat2 = getattr(libc, "renameat2", None) if libc else None
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, tmp.encode(), _AT_FDCWD, path.encode(), _RENAME_NOREPLACE) == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), path)
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), path)
    os.link(tmp, path)  # FileExistsError if taken
    return False


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc: ctypes.CDLL | bool | None = None


def _c() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name, use_errno=True) if name else False
    return _libc or None


def swap_file(path: str | Path, data: bytes, expect: bytes) -> None:
    """Replace ``path`` by ``data`` only if it held ``expect``: a compare-and-swap.

    POSIX has no conditional rename, so: the new file is exchanged into place
    atomically (``renameat2(RENAME_EXCHANGE)``), the file it displaced is read, and
    if it is not ``expect`` (another writer replaced it meanwhile) the two are
    exchanged back and :class:`ReplacedByOther` is raised. Readers see the new
    file at most for those microseconds, never half a file. Durable (fsync) like
    :func:`replace_file`, which it falls back to where ``renameat2`` is missing.
    """
    path = os.fspath(path)
    libc = _c()
    renameat2 = getattr(libc, "renameat2", None) if libc else None
    tmp = _write_temp(path, data, durable=True)
    if renameat2 is None or not os.path.lexists(path):
        os.replace(tmp, path)
        return
    try:
        if renameat2(_AT_FDCWD, tmp.encode(), _AT_FDCWD, path.encode(), _RENAME_EXCHANGE) != 0:
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise OSError(code, os.strerror(code), path)
            os.replace(tmp, path)  # no exchange on this file system
            tmp = ""
            return
        with open(tmp, "rb") as displaced:
            old = displaced.read()
        if old != expect:
            renameat2(_AT_FDCWD, tmp.encode(), _AT_FDCWD, path.encode(), _RENAME_EXCHANGE)
            raise ReplacedByOther(path)
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def sync_filesystem(path: str | Path) -> None:
    """Flush the file system holding ``path`` (``syncfs``; ``sync`` where unavailable)."""
    libc = _c()
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


#: Each component of a path opened beneath a directory: never a symlink, never a
#: FIFO that blocks, never a terminal that becomes ours.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY


def open_beneath(dir_fd: int, parts: list[str] | tuple[str, ...]) -> int:
    """Open ``parts[-1]`` beneath ``dir_fd``, each component with ``O_NOFOLLOW``.

    ``openat`` from one directory descriptor to the next: no component can be a
    symlink (ELOOP, or ENOTDIR for a directory component), and nothing is looked up
    by a name that could be swapped between a check and the open. The caller
    checks the returned descriptor (``fstat``), not the name.
    """
    fd = dir_fd
    try:
        for part in parts[:-1]:
            if part in ("", ".", "..") or "/" in part:
                raise OSError(errno.EINVAL, "not a plain path component", part)
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if fd != dir_fd:
                os.close(fd)
            fd = nxt
        last = parts[-1]
        if last in ("", ".", "..") or "/" in last:
            raise OSError(errno.EINVAL, "not a plain path component", last)
        return os.open(last, _FILE_FLAGS, dir_fd=fd)
    finally:
        if fd != dir_fd:
            os.close(fd)


def replace_file(path: str | Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``.

    The parent directory must exist. With ``durable`` the file is fsynced before
    the rename, so after a power cut the name points at the whole new file or the
    old one; without it the caller makes a whole batch durable at once
    (:func:`sync_filesystem`) before anything refers to it. Plain
    ``os`` calls on strings: this is the publisher's hot path.
    """
    os.replace(_write_temp(os.fspath(path), data, durable), path)


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
