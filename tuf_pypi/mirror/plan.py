"""What a mirror sync has to copy: pure decisions, no I/O.

A sync copies the upstream index's signed files verbatim, so a mirror's clients can
verify them exactly as they would upstream's. What to copy follows from values the
sync has already verified: the versions in the new snapshot against the mirror's
current one, the page hashes in the bins, and the file links on verified pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .. import layout
from ..client.errors import SetupError
from ..layout import packages_path

__all__ = [
    "ALL_PROJECTS",
    "Coverage",
    "changed_roles",
    "check_metadata_filename",
    "check_version",
    "packages_path",
    "page_copy_path",
]

ALL_PROJECTS = "*"
#: ``N.<role>.json`` or ``<role>.json``; the role part is checked by layout.
_METADATA_FILE = re.compile(r"(?:[1-9][0-9]*\.)?([^./]+)\.json", re.ASCII)


def changed_roles(old: Mapping[str, int], new: Mapping[str, int]) -> list[str]:
    """Roles whose version in the new snapshot is not the one the mirror serves."""
    return sorted(role for role, version in new.items() if old.get(role) != version)


def check_version(version: object) -> int:
    """A metadata version as it may appear in a file name: a positive int, not a bool."""
    if type(version) is not int or version < 1:
        raise layout.LayoutError(f"version {version!r} is not a positive integer")
    return version


def check_metadata_filename(filename: str) -> str:
    """``filename`` if it is ``N.<role>.json`` or ``<role>.json`` for a layout role name.

    The last check before a metadata file is written under ``tuf/``: whatever named it,
    it cannot carry a path separator, ``..`` or a role this layout does not have.
    """
    match = _METADATA_FILE.fullmatch(filename)
    if match is None:
        raise layout.LayoutError(f"{filename!r} is not a metadata file name (N.<role>.json)")
    layout.check_role_name(match.group(1))
    return filename


def page_copy_path(target_path: str, sha256: str) -> str:
    """``simple/<p>/<sha256>.<form>``: the consistent-snapshot copy clients download."""
    page = layout.parse_page_target(target_path)
    return f"{layout.SIMPLE_DIR}/{page.project}/{layout.consistent_name(page.form, sha256)}"


@dataclass(frozen=True)
class Coverage:
    """What a completed sync put on the mirror: which projects, and whether files too.

    Kept between runs (outside the mirror directory), so an incremental sync knows
    it may skip the bins that did not change: their pages and files are already there
    if the last sync covered at least what this one asks for.
    """

    projects: frozenset[str] | None  # None: every project
    packages: bool

    @classmethod
    def of(cls, projects: Iterable[str] | None, packages: bool) -> Coverage:
        return cls(None if projects is None else frozenset(projects), packages)

    def covers(self, wanted: Coverage) -> bool:
        if wanted.packages and not self.packages:
            return False
        if self.projects is None:
            return True
        return wanted.projects is not None and wanted.projects <= self.projects

    def to_dict(self) -> dict[str, object]:
        projects = ALL_PROJECTS if self.projects is None else sorted(self.projects)
        return {"projects": projects, "packages": self.packages}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Coverage:
        projects = data.get("projects")
        if projects == ALL_PROJECTS:
            return cls(None, bool(data.get("packages")))
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            raise SetupError(
                f"coverage 'projects' must be '*' or a list of names, not {projects!r}"
            )
        return cls(frozenset(projects), bool(data.get("packages")))
