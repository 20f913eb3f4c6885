"""Find and read detail pages under ``simple/``, refusing anything suspicious.

Nothing here signs anything: it decides which bytes are *eligible* to be signed. A
page is eligible only if it sits at ``simple/<normalized name>/<form>`` inside the
repository (no symlink escaping it), is below the size limit, and parses strictly
as its form. Everything else becomes a :class:`Skipped` with a reason naming the
file, and the publisher leaves the previously signed version in place.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .. import layout, pages
from ..localfs import open_beneath
from .storage import RepositoryStorage

__all__ = ["Page", "Skipped", "project_dirs", "read_project"]


class Page(NamedTuple):
    """A page eligible for signing: its exact bytes and their digest.

    (A tuple: a full publish makes one per page, 1.5 million at PyPI scale.)
    """

    project: str
    form: str
    data: bytes
    sha256: str
    unverifiable: int

    @property
    def path(self) -> str:
        return layout.page_target(self.project, self.form)

    @property
    def length(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Skipped:
    """A page or directory left unsigned, and why."""

    source: str
    reason: str


def project_dirs(
    storage: RepositoryStorage, symlinked: set[str] | None = None
) -> Iterator[str | Skipped]:
    """Names of the project directories under ``simple/`` (or why one is skipped).

    Names of directories that are symlinks (to somewhere inside the repository)
    are also added to ``symlinked``: their pages need the careful path, and the
    directory listing tells for free, where asking later costs a system call per
    project.
    """
    try:
        entries = sorted(os.scandir(storage.simple_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if not entry.is_dir(follow_symlinks=True):
            continue
        source = f"{layout.SIMPLE_DIR}/{entry.name}"
        if not layout.is_normalized(entry.name):
            yield Skipped(source, "directory name is not a PEP 503 normalized project name")
        elif entry.is_symlink() and not storage.inside(storage.simple_dir / entry.name):
            yield Skipped(source, "symlink pointing outside the repository")
        else:
            if symlinked is not None and entry.is_symlink():
                symlinked.add(entry.name)
            yield entry.name


def read_page(root: Path, project: str, form: str) -> Page | Skipped | None:
    """The page ``simple/<project>/<form>``: None if absent, Skipped if not eligible.

    Symlinks inside the repository are followed, but never by name at the open:
    the path is resolved, checked to stay inside the repository, and then every
    component of the resolved path is opened beneath the repository's directory
    descriptor with ``O_NOFOLLOW`` (:func:`localfs.open_beneath`), and the file
    opened is checked with ``fstat``. A symlink swapped in after the check makes
    the open fail instead of reading the file it points at (issue 18, item 3).
    """
    target = layout.page_target(project, form)
    path = os.path.join(root, target)
    if not os.path.lexists(path):
        return None
    real_root = os.path.realpath(root)
    resolved = os.path.realpath(path)
    if os.path.commonpath([real_root, resolved]) != real_root or resolved == real_root:
        return Skipped(target, "symlink pointing outside the repository")
    parts = os.path.relpath(resolved, real_root).split(os.sep)
    try:
        root_fd = os.open(real_root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = open_beneath(root_fd, parts)
        finally:
            os.close(root_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            return Skipped(target, "changed while being read (a symlink was swapped in)")
        return Skipped(target, f"cannot be read ({e.strerror})")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Skipped(target, "not a regular file")
        data = _read_limited(fd, pages.MAX_PAGE_BYTES)
    except OSError as e:
        return Skipped(target, f"cannot be read ({e.strerror})")
    finally:
        os.close(fd)
    if data is None:
        return Skipped(target, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")
    try:
        unverifiable = pages.check_page(data, form, target)
    except pages.PageError as e:
        return Skipped(target, e.reason)
    return Page(project, form, data, hashlib.sha256(data).hexdigest(), unverifiable)


def _read_limited(fd: int, limit: int) -> bytes | None:
    """Read at most ``limit`` bytes; None if the file is larger (never loads it all)."""
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return None if total > limit else b"".join(chunks)


def read_project(root: Path, project: str) -> Iterator[tuple[str, Page | Skipped | None]]:
    """``(form, page)`` for both page forms of a project."""
    for form in layout.PAGE_FORMS:
        yield form, read_page(root, project, form)
