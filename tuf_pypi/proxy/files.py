"""The proxy's store of verified files: downloaded once, checked once, served many times.

Every file is fetched with :meth:`Client.download` (or ``download_metadata``), which
streams it to a temporary file and renames it into place only once its bytes match the
sha256 (and size) the verified page gives. So the store never holds an unverified file
under its real name, and the proxy serves nothing else.

Files are kept by content, ``<dir>/<sha256>``: a path always means the same bytes,
whichever page or refresh asked for it (and whatever the file is called), so it
outlives the view that verified it. One flat directory, one inode per file: on an
ext4 disk, creating a directory costs as much as creating the file, and a cold
install's burst creates dozens (an earlier ``<sha256[:2]>/<sha256>/<filename>`` layout
took three inodes per file).
Installers fetch the same file many times (HEAD, then ranges; or one install per
environment), and hashing a large wheel on every request would cost more than serving
it; so once a file verified in this process, later requests only check that its stat
has not changed (device, inode, size, mtime and ctime), and on any change it is verified
again from scratch. ctime is what catches an in-place rewrite: whoever rewrites a file
can set its mtime back (``touch -d``), but not its ctime, which the kernel sets on every
write. The cache directory itself must be private to the proxy's user
(:meth:`.cache.CacheDir.create` refuses one that is not).

Concurrent requests for one file wait for one download instead of starting their own.
With a :class:`~.cache.CacheBound`, every file served counts as used, and the
least recently used ones are deleted when the cache outgrows its bound (a deleted
file is simply downloaded and verified again when asked for).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..client.client import Client, VerifiedPage
from .cache import CacheBound
from .pages import OfferedFile

__all__ = ["VerifiedFile", "VerifiedFiles"]


@dataclass(frozen=True)
class VerifiedFile:
    """A file on disk whose bytes matched ``sha256``; ``size`` is its length."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class _Stamp:
    """What must stay the same for a verified file to count as unchanged."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path) -> _Stamp:
        stat = path.stat()
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class VerifiedFiles:
    """Verified distribution and ``.metadata`` files under ``directory``. Thread-safe."""

    def __init__(self, directory: str | os.PathLike[str], bound: CacheBound | None = None) -> None:
        self.directory = Path(directory)
        self.bound = bound
        self._lock = threading.Lock()
        self._verified: dict[Path, _Stamp] = {}
        self._downloads: dict[Path, threading.Lock] = {}

    def get(self, client: Client, page: VerifiedPage, offered: OfferedFile) -> VerifiedFile:
        """The verified copy of ``offered`` (a file of ``page``), downloading it if needed.

        Raises the client's errors (:class:`AllMirrorsFailedError` when no mirror
        delivers the right bytes).
        """
        sha256 = offered.sha256
        path = self.directory / sha256
        known = self._known(path)
        if known is not None:
            return self._used(VerifiedFile(path, sha256, known.size))
        with self._download_lock(path):
            known = self._known(path)  # another request may have just verified it
            if known is None:
                if offered.metadata:
                    client.download_metadata(page, offered.link, self.directory, name=sha256)
                else:
                    client.download(page, offered.link, self.directory, name=sha256)
                known = _Stamp.of(path)
                with self._lock:
                    self._verified[path] = known
        return self._used(VerifiedFile(path, sha256, known.size))

    def _used(self, file: VerifiedFile) -> VerifiedFile:
        if self.bound is not None:
            self.bound.used(file.path, file.size)
        return file

    def _known(self, path: Path) -> _Stamp | None:
        """The stamp of ``path`` if it verified in this process and has not changed."""
        with self._lock:
            stamp = self._verified.get(path)
        if stamp is None:
            return None
        try:
            if _Stamp.of(path) == stamp:
                return stamp
        except OSError:
            pass
        with self._lock:
            self._verified.pop(path, None)
        return None

    def _download_lock(self, path: Path) -> threading.Lock:
        with self._lock:
            return self._downloads.setdefault(path, threading.Lock())
