"""Garbage collection: delete metadata and page copies no client can still need.

Publishing never deletes: an old ``N.snapshot.json``, ``N.bin-X.json`` or
``<sha256>.index.*`` stays, because a client (or a CDN) that fetched the previous
``timestamp.json`` a moment ago will ask for exactly those files next (DESIGN §5.4).
``gc`` removes them once that can no longer happen: when every snapshot that
referenced them was superseded longer than a grace period ago.

The rule, for a file under ``tuf/`` (other than roots and ``timestamp.json``) or a
page copy under ``simple/<project>/``:

- a snapshot is *live* if it is the current one (what ``timestamp.json`` names) or
  if the next snapshot on disk appeared (file mtime) less than ``grace`` ago;
- a file is kept if a live snapshot references it (directly, or through a bin it
  names), or if it was written less than ``grace`` ago (crash debris, or a file a
  publish or sync that is not finished yet will reference);
- everything else is deleted, with its ``.gz`` sibling if any.

A file referenced by a snapshot superseded long ago was written before that
snapshot, so the mtime test alone never keeps it alive; it only protects new
files. File mtimes are the clock of the machine that wrote the files, which on a
mirror is the time of the sync: exactly when the mirror's clients could first see
them.

The decision is pure (:func:`live_snapshots`, :func:`select_garbage`); reading the
disk and deleting are in :func:`collect_garbage`, under the publisher lock so a gc
never races a publish or a mirror sync.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tuf.api.metadata import Metadata, Snapshot, Targets

from .. import layout
from ..errors import SettingError
from .storage import RepositoryStorage, StorageError, publisher_lock
from .view import RepositoryView, load_view

__all__ = [
    "DEFAULT_GRACE",
    "GcReport",
    "collect_garbage",
    "live_snapshots",
    "select_garbage",
]

#: Long enough for any client session and any CDN's cache of timestamp.json.
DEFAULT_GRACE = timedelta(days=1)
_VERSIONED = re.compile(r"^([1-9][0-9]*)\.(.+)\.json$")
_GZ = ".gz"


@dataclass
class GcReport:
    """What one gc deleted (or would delete, for a dry run), for the CLI and tests."""

    deleted_metadata: list[str] = field(default_factory=list)
    deleted_pages: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    live_snapshots: list[int] = field(default_factory=list)
    kept_metadata: int = 0
    kept_pages: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "deleted_metadata": self.deleted_metadata,
            "deleted_pages": self.deleted_pages,
            "bytes_freed": self.bytes_freed,
            "live_snapshots": self.live_snapshots,
            "kept_metadata": self.kept_metadata,
            "kept_pages": self.kept_pages,
            "dry_run": self.dry_run,
        }


def live_snapshots(
    snapshot_mtimes: Mapping[int, datetime], current: int, cutoff: datetime
) -> list[int]:
    """Snapshot versions a client may still be reading, ascending.

    ``snapshot_mtimes`` maps each ``N.snapshot.json`` on disk to its mtime. Snapshot
    S was superseded when the next snapshot on disk (at most ``current``) appeared;
    gaps are normal on a mirror that skipped versions. Versions above ``current``
    were never published (a crashed run) and are not live.
    """
    published = sorted(v for v in snapshot_mtimes if v < current)
    successors = [*published[1:], current]
    # A successor with no mtime (the current snapshot, in a bare call) counts as new.
    unknown = datetime.max.replace(tzinfo=timezone.utc)
    return [
        old
        for old, new in zip(published, successors, strict=False)
        if snapshot_mtimes.get(new, unknown) > cutoff
    ] + [current]


def select_garbage(
    candidates: Mapping[str, datetime], referenced: Iterable[str], cutoff: datetime
) -> list[str]:
    """Candidates neither referenced nor written after ``cutoff``, sorted.

    A ``.gz`` sibling is judged as the file it compresses, so the two always go
    together.
    """
    keep = set(referenced)
    return sorted(
        name
        for name, mtime in candidates.items()
        if mtime <= cutoff and name.removesuffix(_GZ) not in keep
    )


# -- reading the disk ----------------------------------------------------------


def _mtime(entry: os.DirEntry) -> datetime:
    return datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)


def _metadata_files(storage: RepositoryStorage) -> dict[str, os.DirEntry]:
    """Versioned metadata files gc may delete: everything but roots and unversioned files."""
    found = {}
    for entry in os.scandir(storage.metadata_dir):
        match = _VERSIONED.match(entry.name.removesuffix(_GZ))
        if match and match.group(2) != "root" and entry.is_file():
            found[entry.name] = entry
    return found


def _page_copies(storage: RepositoryStorage) -> dict[str, os.DirEntry]:
    """``simple/<project>/<sha256>.index.*`` (and ``.gz`` siblings), by path under the root."""
    found: dict[str, os.DirEntry] = {}
    if not storage.simple_dir.is_dir():
        return found
    for project in os.scandir(storage.simple_dir):
        # Only directories publish can have written: a normalized name, no symlink.
        if not layout.is_normalized(project.name) or not project.is_dir(follow_symlinks=False):
            continue
        for entry in os.scandir(project.path):
            if layout.split_consistent_name(entry.name.removesuffix(_GZ)) and entry.is_file():
                found[f"{layout.SIMPLE_DIR}/{project.name}/{entry.name}"] = entry
    return found


def _snapshot_versions(metadata: Mapping[str, os.DirEntry]) -> dict[int, datetime]:
    versions = {}
    for name, entry in metadata.items():
        match = _VERSIONED.match(name)
        if match and match.group(2) == "snapshot":
            versions[int(match.group(1))] = _mtime(entry)
    return versions


def _load(storage: RepositoryStorage, filename: str, expected: type) -> Metadata:
    data = storage.read_metadata(filename)
    try:
        md = Metadata.from_bytes(data)
    except (ValueError, KeyError, TypeError) as e:
        raise StorageError(f"{storage.metadata_dir / filename} is not valid metadata: {e}") from e
    if not isinstance(md.signed, expected):
        raise StorageError(f"{storage.metadata_dir / filename} is not {expected.type} metadata")
    return md


class _References:
    """Files referenced by the live snapshots, loading each old bin at most once."""

    def __init__(self, view: RepositoryView, wanted_bins: set[str]) -> None:
        self.view = view
        self.wanted_bins = wanted_bins
        self.current_bins = set(view.bin_names())
        self.metadata: set[str] = set()
        self.pages: set[str] = set()
        self._bins_seen: set[tuple[str, int]] = set()

    def add_snapshot(self, snapshot: Metadata[Snapshot]) -> None:
        self.metadata.add(layout.metadata_filename("snapshot", snapshot.signed.version))
        for filename, meta in snapshot.signed.meta.items():
            role = layout.role_of_metadata_filename(filename)
            self.metadata.add(layout.metadata_filename(role, meta.version))
            # A bin the current delegation does not have (the bin count changed since)
            # could name any page: load it too.
            wanted = role in self.wanted_bins or (
                layout.is_bin_role(role) and role not in self.current_bins
            )
            if wanted and (role, meta.version) not in self._bins_seen:
                self._bins_seen.add((role, meta.version))
                self._add_pages(self._bin(role, meta.version))

    def _bin(self, role: str, version: int) -> Metadata[Targets]:
        if role in self.current_bins and version == self.view.version_of(role):
            return self.view.bin(role)
        return _load(self.view.storage, layout.metadata_filename(role, version), Targets)

    def _add_pages(self, md: Metadata[Targets]) -> None:
        for path, target in md.signed.targets.items():
            digest = target.hashes.get("sha256")
            page = layout.parse_page_target(path)
            if digest:
                name = layout.consistent_name(page.form, digest)
                self.pages.add(f"{layout.SIMPLE_DIR}/{page.project}/{name}")


def _bins_of(view: RepositoryView, paths: Iterable[str]) -> set[str]:
    """Bins that can reference these page copies: only those need loading."""
    bins = set()
    for path in paths:
        project, name = path.split("/")[1:]
        split = layout.split_consistent_name(name.removesuffix(_GZ))
        if split:
            bins.add(view.bin_of(layout.page_target(project, split[1])))
    return bins


def _delete(
    storage: RepositoryStorage,
    entries: Mapping[str, os.DirEntry],
    names: list[str],
    dry_run: bool,
) -> int:
    """Delete ``names`` (unless ``dry_run``) through the storage (the fence sees each;
    an object store deletes the object); bytes freed (or that would be)."""
    freed = 0
    for name in names:
        entry = entries[name]
        with contextlib.suppress(FileNotFoundError):
            size = entry.stat().st_size
            if not dry_run:
                storage.delete(entry.path)
            freed += size
    return freed


def collect_garbage(
    storage: RepositoryStorage,
    lock_file: Path,
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
    *,
    dry_run: bool = False,
    wait_for_lock: bool = True,
    on_lock_wait: Callable[[Path], None] | None = None,
) -> GcReport:
    """Delete what no live snapshot references and is older than ``grace``.

    Takes the publisher lock (``lock_file``, the one ``Publisher`` uses; ``on_lock_wait``
    is told when it has to wait for it). Never
    touches root versions, ``root.json``, ``timestamp.json``, the live pages or
    ``packages/``. With ``dry_run`` only reports.
    """
    if grace < timedelta(0):
        raise SettingError(f"grace period must not be negative, not {grace}")
    cutoff = now - grace
    with publisher_lock(lock_file, wait_for_lock, on_lock_wait):
        view = load_view(storage)
        metadata = _metadata_files(storage)
        pages = _page_copies(storage)
        old_metadata = {n: _mtime(e) for n, e in metadata.items()}
        old_metadata = {n: t for n, t in old_metadata.items() if t <= cutoff}
        old_pages = {p: _mtime(e) for p, e in pages.items()}
        old_pages = {p: t for p, t in old_pages.items() if t <= cutoff}

        current = view.snapshot.signed.version
        report = GcReport(dry_run=dry_run)
        report.live_snapshots = live_snapshots(_snapshot_versions(metadata), current, cutoff)
        refs = _References(view, _bins_of(view, old_pages))
        for version in report.live_snapshots:
            snapshot = (
                view.snapshot
                if version == current
                else _load(storage, layout.metadata_filename("snapshot", version), Snapshot)
            )
            refs.add_snapshot(snapshot)

        report.deleted_metadata = select_garbage(old_metadata, refs.metadata, cutoff)
        report.deleted_pages = select_garbage(old_pages, refs.pages, cutoff)
        report.kept_metadata = len(metadata) - len(report.deleted_metadata)
        report.kept_pages = len(pages) - len(report.deleted_pages)
        report.bytes_freed = _delete(storage, pages, report.deleted_pages, dry_run)
        report.bytes_freed += _delete(storage, metadata, report.deleted_metadata, dry_run)
        storage.barrier()
        return report
