"""A storage that dies at a chosen write: a publisher crash, without killing pytest."""

from __future__ import annotations

from pathlib import Path

from tuf_pypi.repository import RepositoryStorage
from tuf_pypi.repository.storage import TEMP_PREFIX, WriteKind

__all__ = ["Crash", "CrashingStorage"]


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, not even except blocks."""


class CrashingStorage(RepositoryStorage):
    """Dies at write number ``crash_at``; ``torn`` leaves a half-written temp file."""

    every_write_here = True  # the hook must see each write, so no forked writer

    def __init__(self, root: Path, crash_at: int, torn: bool = False) -> None:
        super().__init__(root)
        self.crash_at = crash_at
        self.torn = torn

    def before_write(self, kind: WriteKind, path: str) -> None:
        if self.writes == self.crash_at:
            if self.torn:
                torn = Path(path)
                (torn.parent / f"{TEMP_PREFIX}{torn.name}.999").write_bytes(b"torn")
            raise Crash(f"crash before writing {path} ({kind.value})")
