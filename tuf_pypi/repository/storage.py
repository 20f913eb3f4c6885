"""The repository directory on disk: atomic writes, the publisher lock, safe reads.

This is the only module of the repository side that touches the served tree. Writes
go to a temporary file in the target's directory, are fsynced and renamed over the
final name, so a static server or a mirror never sees a half-written file and a
crash leaves either the old or the new file (DESIGN §5.1-5.2).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata

from .. import layout
from ..localfs import TEMP_PREFIX, LockBusy, exclusive_lock, fsync_dir, write_atomic

__all__ = ["TEMP_PREFIX", "LockBusyError", "RepositoryStorage", "StorageError", "publisher_lock"]

_ROOT_FILE = re.compile(r"^([1-9][0-9]*)\.root\.json$")


class StorageError(Exception):
    """The repository directory is not in a usable state; the message says where."""


class LockBusyError(StorageError):
    """Another publisher holds the lock and we were told not to wait."""


class RepositoryStorage:
    """Reads and atomic writes under one repository root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.metadata_dir = self.root / layout.METADATA_DIR
        self.simple_dir = self.root / layout.SIMPLE_DIR
        self.writes = 0

    # -- writing -----------------------------------------------------------------

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` so readers see the old file or the new one."""
        write_atomic(path, data)
        self.writes += 1

    def write_metadata(self, filename: str, data: bytes) -> None:
        self.write_atomic(self.metadata_dir / filename, data)

    def sync_dirs(self) -> None:
        """fsync the directories written to, so renames survive a power cut."""
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

    def inside(self, path: Path) -> bool:
        """True when ``path``, symlinks resolved, stays inside the repository."""
        try:
            return path.resolve().is_relative_to(self.root.resolve())
        except (OSError, RuntimeError):
            return False


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
