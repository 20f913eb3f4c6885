"""A size bound on the proxy's cache: least recently used files go first, trust never.

A proxy left running fills its cache with every wheel anyone ever asked for. With a
bound (``--cache-max-size``), once the cache holds more than that, the least recently
used entries are deleted until it fits again:

1. verified distribution and ``.metadata`` files (``proxy/files/``) first: they are the
   bulk, and one deleted only costs a download (it is verified again like any other);
2. then verified page copies (``pages/``), least recently written first;
3. never the trusted metadata (``metadata/``): it is what lets the client detect a
   rollback on the next run (docs/client.md, "The cache").

"Last use" is tracked in memory (the proxy sees every request); at start-up it is the
newest of each file's access and modification times. A file used in the last
``grace_seconds`` is never deleted, so a file just verified (or still being sent) is
not pulled from under its request; when everything is that fresh, the cache may
exceed the bound until it is not. Deleting a file that a request is sending is safe
anyway on POSIX systems (the open file stays readable).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from ..client.errors import SetupError
from ..localfs import TEMP_PREFIX
from ..metrics import Registry

__all__ = ["CacheBound"]

#: Seconds a used file is safe from eviction.
DEFAULT_GRACE = 60.0


class CacheBound:
    """Keep ``files_dir`` plus ``pages_dir`` under ``max_bytes``. Thread-safe."""

    def __init__(
        self,
        files_dir: Path,
        pages_dir: Path,
        max_bytes: int,
        *,
        grace_seconds: float = DEFAULT_GRACE,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0:
            raise SetupError(f"cache size bound must be positive, not {max_bytes}")
        self.files_dir = Path(files_dir)
        self.pages_dir = Path(pages_dir)
        self.max_bytes = max_bytes
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # path -> (size, last use), least recently used first
        self._files: OrderedDict[Path, tuple[int, float]] = OrderedDict(_scan(self.files_dir))
        self._gauge = self._evictions = None
        if registry is not None:
            self._gauge = registry.gauge(
                "tuf_pypi_proxy_cache_bytes", "Bytes of verified files and pages in the cache."
            )
            self._evictions = registry.counter(
                "tuf_pypi_proxy_cache_evictions_total",
                "Cached files and pages deleted to keep the cache under --cache-max-size.",
                ["what"],
            )
        self.prune()

    @property
    def size(self) -> int:
        """Bytes of files and page copies counted now."""
        with self._lock:
            return self._files_bytes() + sum(size for _, size, _ in _entries(self.pages_dir))

    def used(self, path: Path, size: int) -> None:
        """``path`` (a verified file of ``size`` bytes) was just served or stored."""
        with self._lock:
            self._files.pop(path, None)
            self._files[path] = (size, self._clock())
        self.prune()

    def prune(self) -> None:
        """Delete least recently used entries until the cache fits (see the module doc)."""
        with self._lock:
            pages = sorted(_entries(self.pages_dir), key=lambda e: e[2])
            total = self._files_bytes() + sum(size for _, size, _ in pages)
            cutoff = self._clock() - self.grace_seconds
            for path, (size, last) in list(self._files.items()):
                if total <= self.max_bytes or last > cutoff:
                    break
                if _remove(path):
                    self._count("file")
                del self._files[path]
                total -= size
            for path, size, last in pages:
                if total <= self.max_bytes or last > cutoff:
                    break
                if _remove(path):
                    self._count("page")
                total -= size
            if self._gauge is not None:
                self._gauge.set(total)

    def _files_bytes(self) -> int:
        return sum(size for size, _ in self._files.values())

    def _count(self, what: str) -> None:
        if self._evictions is not None:
            self._evictions.inc(what=what)


def _entries(directory: Path) -> Iterator[tuple[Path, int, float]]:
    """``(path, size, last use)`` of the regular files under ``directory``."""
    for dirpath, _, names in os.walk(directory):
        for name in names:
            path = Path(dirpath) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            if name.startswith(TEMP_PREFIX) or (
                name.startswith(".") and name.endswith((".part", ".tmp"))
            ):
                continue  # a download in progress: its owner renames or removes it
            yield path, stat.st_size, max(stat.st_atime, stat.st_mtime)


def _scan(directory: Path) -> list[tuple[Path, tuple[int, float]]]:
    entries = sorted(_entries(directory), key=lambda e: e[2])
    return [(path, (size, last)) for path, size, last in entries]


def _remove(path: Path) -> bool:
    with contextlib.suppress(OSError):
        path.unlink()
        return True
    return False
