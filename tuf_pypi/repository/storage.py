"""The repository directory on disk: the only code that writes the served tree.

Every write names its *kind* (:class:`WriteKind`), and the kind decides how it is
written (DESIGN §5.1):

========== ======================================= ============ ===============
kind       files                                   how          durable
========== ======================================= ============ ===============
PAGE       ``simple/<p>/index.*`` (queue batches)   replace      at the barrier
COPY       ``simple/<p>/<sha256>.index.*``          create-only  at the barrier
BIN        ``N.bin-XXXX.json``                      create-only  at the barrier
OFFLINE    ``N.root/targets/bins.json``             create-only  at the barrier
ROOT_COPY  ``root.json``                            replace      at the barrier
SNAPSHOT   ``N.snapshot.json``                      create-only  at the barrier
TIMESTAMP  ``timestamp.json``                       swap         fsync, last
DELETE     a page (queue deletions)                 unlink       at the barrier
========== ======================================= ============ ===============

*Create-only* files are never replaced by other bytes (:func:`localfs.create_file`):
a deposed publisher cannot overwrite its successor's ``N.bin-XXXX.json``, it gets
:class:`VersionTaken` and the transaction moves to a higher version. The timestamp,
the only role file that is replaced, is swapped only if it still holds the bytes the
transaction started from (:func:`localfs.swap_file`). :meth:`RepositoryStorage.barrier`
makes everything written so far durable at once (one ``syncfs``, or an fsync per
file for a handful), so a transaction writes copies, barrier, bins, offline files,
snapshot, barrier, timestamp.

Subclasses change behaviour at two points only: :meth:`before_write` (called before
every write with its kind and path: the HA fence, crash injection) and
:meth:`_store` (the one primitive that puts bytes under a name: another backend).
Forked workers never call back into a storage; they get a :class:`WorkerWrites`
from :meth:`worker_writes`, which is None when every write must pass through this
process (crash injection, the fence).
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata

from .. import layout
from ..errors import RepoError
from ..localfs import (
    TEMP_PREFIX,
    FileExistsWithOtherBytes,
    LockBusy,
    ReplacedByOther,
    create_file,
    exclusive_lock,
    fsync_dir,
    replace_file,
    replace_with_link,
    swap_file,
    sync_filesystem,
)

__all__ = [
    "TEMP_PREFIX",
    "ConcurrentWriter",
    "LockBusyError",
    "RepositoryStorage",
    "StorageError",
    "VersionTaken",
    "WorkerWrites",
    "WriteKind",
    "publisher_lock",
]

_ROOT_FILE = re.compile(r"^([1-9][0-9]*)\.root\.json$")
_BIN_FILE = re.compile(r"([1-9][0-9]*)\.(bin-[0-9a-f]+)\.json\Z")
#: Batches with fewer unsynced files than this get an fsync per file at the barrier
#: (cheaper than a syncfs, which also flushes everyone else's dirty data).
BULK_THRESHOLD = 32


class StorageError(RepoError):
    """The repository directory is not in a usable state; the message says where."""


class LockBusyError(StorageError):
    """Another publisher holds the lock and we were told not to wait."""


class VersionTaken(StorageError):
    """A versioned file already exists with other bytes (another publisher wrote it)."""


class ConcurrentWriter(StorageError):
    """``timestamp.json`` changed under this transaction: another publisher is writing."""


class WriteKind(enum.Enum):
    """What a write is; decides how it is written (see the module table)."""

    PAGE = "page"
    COPY = "copy"
    BIN = "bin"
    OFFLINE = "offline"
    ROOT_COPY = "root copy"
    SNAPSHOT = "snapshot"
    TIMESTAMP = "timestamp"
    DELETE = "delete"


_CREATE_ONLY = frozenset({WriteKind.COPY, WriteKind.BIN, WriteKind.OFFLINE, WriteKind.SNAPSHOT})


@dataclass(frozen=True)
class WorkerWrites:
    """How a forked worker writes page copies: given to it explicitly, never inherited.

    Only content-addressed copies (create-only, so no other publisher's file can be
    changed) and, with ``link``, hard links of pages to them. Not durable: the
    parent learns how many were written and passes the count to
    :meth:`RepositoryStorage.written_by_workers` before its barrier.
    """

    link: bool = False

    def write_copy(self, path: str, data: bytes) -> None:
        create_file(path, data, durable=False)


class RepositoryStorage:
    """Reads, and writes by kind, under one repository root."""

    #: A subclass whose :meth:`before_write` must see every single write sets this:
    #: then no forked worker writes (a hook cannot run in another process).
    every_write_here: bool = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.metadata_dir = self.root / layout.METADATA_DIR
        self.simple_dir = self.root / layout.SIMPLE_DIR
        #: Writes made (counted before they happen: crash tests key on it).
        self.writes = 0
        self._unsynced: list[str] = []
        self._unsynced_by_workers = 0

    # -- the two points subclasses change -------------------------------------------

    def before_write(self, kind: WriteKind, path: str) -> None:
        """Called before every write: the fence and crash injection hook in here."""

    def _store(self, kind: WriteKind, path: str, data: bytes | None, expect: bytes | None) -> bool:
        """Put ``data`` at ``path`` as ``kind`` says (None deletes); False if already so."""
        if data is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
            return True
        if kind is WriteKind.TIMESTAMP and expect is not None:
            swap_file(path, data, expect)
            return True
        durable = kind is WriteKind.TIMESTAMP
        try:
            if kind in _CREATE_ONLY:
                try:
                    return create_file(path, data, durable=durable)
                except FileExistsWithOtherBytes:
                    if kind is not WriteKind.COPY:
                        raise
                    # A copy is named by the sha256 of its bytes: other bytes under
                    # that name are no one's valid file (a torn write of some other
                    # tool), so they are replaced.
            replace_file(path, data, durable=durable)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return self._store(kind, path, data, expect)
        return True

    def worker_writes(self, link: bool = False) -> WorkerWrites | None:
        """What forked workers may write directly; None if :attr:`every_write_here`."""
        return None if self.every_write_here else WorkerWrites(link)

    # -- writing ---------------------------------------------------------------------

    def put(
        self, kind: WriteKind, path: str | Path, data: bytes, *, expect: bytes | None = None
    ) -> bool:
        """Write one file of ``kind`` (see the module table); False if it was there already.

        Create-only kinds raise :class:`VersionTaken` when the name holds other bytes;
        the timestamp, given ``expect`` (the bytes it replaces), raises
        :class:`ConcurrentWriter` if another writer replaced it meanwhile.
        """
        path = os.fspath(path)
        self.before_write(kind, path)
        self.writes += 1
        try:
            written = self._store(kind, path, data, expect)
        except FileExistsWithOtherBytes:
            raise VersionTaken(f"{path} already exists with other bytes") from None
        except ReplacedByOther:
            raise ConcurrentWriter(
                f"{path} was replaced by another publisher during this publish; "
                "nothing was changed, publish again"
            ) from None
        if written and kind is not WriteKind.TIMESTAMP:
            self._unsynced.append(path)
        return written

    def link_page(self, copy: str, page: str) -> None:
        """Make the page file ``page`` another name of the copy just written (``--link-copies``)."""
        self.before_write(WriteKind.PAGE, page)
        self.writes += 1
        replace_with_link(copy, page)
        self._unsynced.append(page)

    def delete(self, path: str | Path) -> bool:
        """Remove a page (queue deletions); False if it was not there."""
        path = os.fspath(path)
        self.before_write(WriteKind.DELETE, path)
        self.writes += 1
        removed = self._store(WriteKind.DELETE, path, None, None)
        if removed:
            self._unsynced.append(os.path.dirname(path))
        return removed

    def write_metadata(self, filename: str, data: bytes) -> None:
        """Write a role file under ``tuf/``, its kind told by its name."""
        self.put(_metadata_kind(filename), self.metadata_dir / filename, data)

    def written_by_workers(self, count: int) -> None:
        """Forked workers wrote ``count`` files: the next barrier must cover them."""
        self._unsynced_by_workers += count
        self.writes += count

    def barrier(self) -> None:
        """Make every write so far durable before anything that refers to it is written.

        One ``syncfs`` for a batch; for a handful of files an fsync of each and of
        their directories (renames included).
        """
        files, self._unsynced = self._unsynced, []
        by_workers, self._unsynced_by_workers = self._unsynced_by_workers, 0
        if not files and not by_workers:
            return
        if by_workers or len(files) >= BULK_THRESHOLD:
            sync_filesystem(self.root)
            return
        directories = set()
        for path in files:
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            directories.add(os.path.dirname(path))
        for directory in directories:
            fsync_dir(Path(directory))

    def sync_dirs(self) -> None:
        """fsync the metadata directory (the timestamp's rename)."""
        fsync_dir(self.metadata_dir)

    def remove_stale_temp_files(self) -> int:
        """Delete temp files left by a crashed publisher. Call only under the lock."""
        removed = 0
        for directory in (self.metadata_dir, self.simple_dir):
            if not directory.is_dir():
                continue
            for dirpath, _dirnames, filenames in os.walk(directory):
                for name in filenames:
                    if name.startswith(TEMP_PREFIX):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(os.path.join(dirpath, name))
                            removed += 1
        return removed

    # -- reading -----------------------------------------------------------------

    def read_metadata(self, filename: str) -> bytes:
        path = self.metadata_dir / filename
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{path} is missing") from None

    def load_metadata(self, filename: str) -> Metadata:
        """A metadata file parsed by python-tuf; StorageError naming it if invalid."""
        data = self.read_metadata(filename)
        try:
            return Metadata.from_bytes(data)
        except (RepositoryError, ValueError, KeyError, TypeError) as e:
            raise StorageError(f"{self.metadata_dir / filename} is not valid metadata: {e}") from e

    def newest_root_version(self) -> int:
        """Version of the newest ``N.root.json``; StorageError if this is no repository."""
        if not self.has_metadata():
            raise StorageError(self._not_a_repository())
        versions = self.root_versions()
        if not versions:
            raise StorageError(f"no N.root.json in {self.metadata_dir}")
        return versions[-1]

    def _not_a_repository(self) -> str:
        """Why ``root`` holds no repository: a typo'd path must not be told to run init."""
        if not self.root.exists():
            return f"{self.root} does not exist (check --repo)"
        if not self.root.is_dir():
            return f"{self.root} is not a directory (check --repo)"
        if not self.simple_dir.is_dir():
            return (
                f"{self.root} has no {layout.SIMPLE_DIR}/ directory: is it the index root "
                "(the directory holding simple/)? Check --repo"
            )
        return (
            f"{self.root} is not a tuf-pypi repository yet (no {layout.METADATA_DIR}/); "
            "run 'tuf-pypi init' first"
        )

    def has_metadata(self) -> bool:
        return (self.metadata_dir / "timestamp.json").exists() or (
            self.metadata_dir / "1.root.json"
        ).exists()

    def root_versions(self) -> list[int]:
        """All ``N.root.json`` versions present, ascending."""
        if not self.metadata_dir.is_dir():
            return []
        versions = []
        for name in os.listdir(self.metadata_dir):
            match = _ROOT_FILE.match(name)
            if match:
                versions.append(int(match.group(1)))
        return sorted(versions)

    def bin_versions(self) -> dict[str, int]:
        """Highest version of every ``N.bin-X.json`` file present (one directory scan).

        Versioned files are create-only and clients may have seen any of them, so a
        bin of a new delegation is signed above every file of its name, even one
        the snapshot no longer names (``changeset.next_versions``).
        """
        highest: dict[str, int] = {}
        with os.scandir(self.metadata_dir) as entries:
            for entry in entries:
                match = _BIN_FILE.match(entry.name)
                if match:
                    version, name = int(match.group(1)), match.group(2)
                    if version > highest.get(name, 0):
                        highest[name] = version
        return highest

    def inside(self, path: Path) -> bool:
        """True when ``path``, symlinks resolved, stays inside the repository."""
        try:
            return path.resolve().is_relative_to(self.root.resolve())
        except (OSError, RuntimeError):
            return False


def _metadata_kind(filename: str) -> WriteKind:
    if filename == layout.metadata_filename("timestamp"):
        return WriteKind.TIMESTAMP
    if filename == layout.metadata_filename("root"):
        return WriteKind.ROOT_COPY
    role = layout.role_of_metadata_filename(filename).partition(".")[2]
    if role == "snapshot":
        return WriteKind.SNAPSHOT
    return WriteKind.BIN if layout.is_bin_role(role) else WriteKind.OFFLINE


@contextlib.contextmanager
def publisher_lock(
    lock_file: Path, wait: bool = True, on_wait: Callable[[Path], None] | None = None
) -> Iterator[None]:
    """Exclusive lock: one publisher changes a repository at a time (DESIGN §5.3).

    The lock file lives outside the served tree (the key or state directory).
    ``on_wait`` is told when the lock is busy and this call starts waiting.
    """
    try:
        with exclusive_lock(lock_file, wait, on_wait):
            yield
    except LockBusy:
        raise LockBusyError(f"another publisher holds {lock_file}") from None
