"""Find and read detail pages under ``simple/``, refusing anything suspicious.

Nothing here signs anything: it decides which bytes are *eligible* to be signed. A
page is eligible only if it sits at ``simple/<normalized name>/<form>`` inside the
repository (no symlink escaping it), is below the size limit, and parses strictly
as its form. Everything else becomes a :class:`Skipped` with a reason naming the
file, and the publisher leaves the previously signed version in place.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from .. import layout, pages
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


def _read_limited(path: str, limit: int) -> bytes | None:
    """Read at most ``limit`` bytes; None if the file is larger (never loads it all)."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return None if len(data) > limit else data


def read_page(storage: RepositoryStorage, project: str, form: str) -> Page | Skipped | None:
    """The page ``simple/<project>/<form>``: None if absent, Skipped if not eligible."""
    target = layout.page_target(project, form)
    path = storage.root / target
    if not os.path.lexists(path):
        return None
    if not storage.inside(path):
        return Skipped(target, "symlink pointing outside the repository")
    if not path.is_file():
        return Skipped(target, "not a regular file")
    try:
        data = _read_limited(str(path), pages.MAX_PAGE_BYTES)
    except OSError as e:
        return Skipped(target, f"cannot be read ({e.strerror})")
    if data is None:
        return Skipped(target, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")
    try:
        unverifiable = pages.check_page(data, form, target)
    except pages.PageError as e:
        return Skipped(target, e.reason)
    return Page(project, form, data, hashlib.sha256(data).hexdigest(), unverifiable)


def read_project(
    storage: RepositoryStorage, project: str
) -> Iterator[tuple[str, Page | Skipped | None]]:
    """``(form, page)`` for both page forms of a project."""
    for form in layout.PAGE_FORMS:
        yield form, read_page(storage, project, form)
