"""Distribution and PEP 658 metadata files, verified by hash chaining.

These files are not TUF targets (DESIGN.md §3): the page that lists them is. Once the
page verified through TUF, the sha256 it gives for a file (and its size, where the
page gives one) is as trustworthy as the page, so a file is accepted only when its
bytes match them. A link without a sha256 cannot be verified and is refused.

A download streams into a temporary file in the destination directory while hashing,
stops as soon as it exceeds the expected size (or the configured maximum when the page
gives none), and is renamed to its final name only after the hash matched. So the
destination never holds an unverified file under its real name, and an endless or
oversized answer costs one chunk of memory and at most the expected size on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tuf.api.exceptions import DownloadError

from ..localfs import write_all
from ..pages import FileLink
from .errors import (
    MirrorError,
    NoHashError,
    NotListedError,
    SetupError,
    TamperedError,
    TooLargeError,
    from_tuf,
)
from .fetcher import BoundedFetcher
from .health import MirrorHealth

__all__ = ["ExpectedFile", "fetch_file", "is_verified_copy"]

_METADATA_SUFFIX = ".metadata"
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ExpectedFile:
    """A file as a verified page vouches for it.

    ``url`` is the link as the page gives it (relative to the page, usually).
    ``size`` is None when the page does not give one (PEP 503 HTML pages).
    """

    filename: str
    url: str
    sha256: str
    size: int | None = None

    @classmethod
    def distribution(cls, link: FileLink, page: str) -> ExpectedFile:
        """The distribution file of ``link``; ``page`` names the page in errors."""
        if link.sha256 is None:
            given = ", ".join(sorted(link.hashes)) or "no hash at all"
            raise NoHashError(
                f"{page}: {link.filename}: the index did not give a sha256 hash for this "
                f"file ({given}), so it cannot be verified"
            )
        return cls(link.filename, link.url, link.sha256, link.size)

    @classmethod
    def core_metadata(cls, link: FileLink, page: str) -> ExpectedFile:
        """The PEP 658 ``.metadata`` file of ``link``: the file's URL plus ``.metadata``."""
        if link.core_metadata is False:
            raise NotListedError(f"{page}: {link.filename}: the page offers no core metadata file")
        sha256 = link.metadata_sha256
        if sha256 is None:
            raise NoHashError(
                f"{page}: {link.filename}{_METADATA_SUFFIX}: the index did not give a sha256 "
                "hash for this metadata file, so it cannot be verified"
            )
        return cls(link.filename + _METADATA_SUFFIX, link.url + _METADATA_SUFFIX, sha256)


def is_verified_copy(path: Path, expected: ExpectedFile) -> bool:
    """True when ``path`` already holds exactly the expected bytes."""
    try:
        if expected.size is not None and path.stat().st_size != expected.size:
            return False
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_READ_CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == expected.sha256


def fetch_file(
    fetcher: BoundedFetcher,
    expected: ExpectedFile,
    urls: Sequence[str],
    dest: Path,
    max_bytes: int,
    health: MirrorHealth | None = None,
) -> Path:
    """Download ``expected`` to ``dest`` from the first of ``urls`` that verifies.

    An existing verified copy is kept without downloading. ``max_bytes`` bounds a
    file whose page gives no size. Raises :class:`AllMirrorsFailedError` with each
    URL's failure when none verifies. ``health`` records every URL's failure (even
    when a later one verifies) and tries URLs of mirrors that are down last.
    """
    if is_verified_copy(dest, expected):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SetupError(f"cannot create {dest.parent}: {exc}") from exc
    attempt = (health or MirrorHealth()).attempt(f"downloading {expected.filename}", urls)
    for url in attempt:
        try:
            _download(fetcher, url, expected, dest, max_bytes)
        except MirrorError as exc:
            attempt.failed(url, exc)
            continue
        attempt.succeeded(url)
        return dest
    raise attempt.error()


def _download(
    fetcher: BoundedFetcher, url: str, expected: ExpectedFile, dest: Path, max_bytes: int
) -> None:
    limit = expected.size if expected.size is not None else max_bytes
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise SetupError(f"cannot write in {dest.parent}: {exc}") from exc
    renamed = False
    try:
        digest = hashlib.sha256()
        size = 0
        # Plain fd writes (no file object: no fstat, ioctl and lseek per file); the
        # chunks are the fetcher's, already of a good size.
        with contextlib.closing(fetcher.stream(url)) as body:
            for chunk in body:
                size += len(chunk)
                if size > limit:
                    raise TooLargeError(f"{url}: {_over_limit(expected, limit)}")
                digest.update(chunk)
                write_all(fd, chunk)
        if expected.size is not None and size != expected.size:
            raise TamperedError(
                f"{url}: {size} bytes, but the verified page gives {expected.size} bytes"
            )
        if digest.hexdigest() != expected.sha256:
            raise TamperedError(
                f"{url}: sha256 {digest.hexdigest()} does not match {expected.sha256} "
                "from the verified page"
            )
        os.fchmod(fd, 0o644)  # mkstemp's 0600 is for the unverified part only
        written, fd = fd, -1
        os.close(written)
        os.replace(tmp_name, dest)
        renamed = True
    except DownloadError as exc:
        raise from_tuf(exc, "download", "") from exc
    except OSError as exc:
        raise SetupError(f"cannot write {dest}: {exc}") from exc
    finally:
        if fd >= 0:
            os.close(fd)
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)


def _over_limit(expected: ExpectedFile, limit: int) -> str:
    if expected.size is not None:
        return f"more than the {limit} bytes the verified page gives"
    return f"more than the configured maximum of {limit} bytes (the page gives no size)"
