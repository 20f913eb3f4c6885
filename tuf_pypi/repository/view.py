"""The published state of a repository, as its ``timestamp.json`` names it.

The metadata on disk *is* the publisher's state: there is no separate database to
drift out of sync. Whatever ``timestamp.json`` points at is published; anything
newer on disk is debris of a crashed run, which the next publish overwrites.
Bins are loaded lazily, so publishing one project reads one or two bins only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuf.api.metadata import Metadata, Root, Snapshot, SuccinctRoles, Targets, Timestamp

from .. import layout
from .storage import RepositoryStorage, StorageError

__all__ = ["RepositoryView", "load_view"]


@dataclass
class RepositoryView:
    """Current root, timestamp, snapshot, targets and bins, plus lazily loaded bins."""

    storage: RepositoryStorage
    root: Metadata[Root]
    timestamp: Metadata[Timestamp]
    snapshot: Metadata[Snapshot]
    targets: Metadata[Targets]
    bins: Metadata[Targets]
    _bins_cache: dict[str, Metadata[Targets]] = field(default_factory=dict)

    @property
    def succinct(self) -> SuccinctRoles:
        delegations = self.bins.signed.delegations
        if delegations is None or delegations.succinct_roles is None:
            raise StorageError("bins metadata has no succinct hash bin delegation")
        return delegations.succinct_roles

    @property
    def number_of_bins(self) -> int:
        return self.succinct.number_of_bins

    def bin_names(self) -> list[str]:
        return list(self.succinct.get_roles())

    def bin_of(self, target_path: str) -> str:
        return layout.bin_name(
            layout.bin_index(target_path, self.number_of_bins), self.number_of_bins
        )

    def version_of(self, role: str) -> int:
        meta = self.snapshot.signed.meta.get(layout.metadata_filename(role))
        if meta is None:
            raise StorageError(f"snapshot does not list {role}")
        return meta.version

    def bin(self, name: str) -> Metadata[Targets]:
        """The published version of bin ``name`` (loaded once)."""
        md = self._bins_cache.get(name)
        if md is None:
            md = self.storage.load_metadata(layout.metadata_filename(name, self.version_of(name)))
            self._bins_cache[name] = md
        return md


def load_view(storage: RepositoryStorage) -> RepositoryView:
    """Read the published state; raises StorageError naming what is missing."""
    root = storage.load_metadata(layout.metadata_filename("root", storage.newest_root_version()))
    timestamp = storage.load_metadata(layout.metadata_filename("timestamp"))
    snapshot_version = timestamp.signed.snapshot_meta.version
    snapshot = storage.load_metadata(layout.metadata_filename("snapshot", snapshot_version))

    def listed(role: str) -> Metadata:
        meta = snapshot.signed.meta.get(layout.metadata_filename(role))
        if meta is None:
            raise StorageError(f"snapshot does not list {role}")
        return storage.load_metadata(layout.metadata_filename(role, meta.version))

    return RepositoryView(
        storage, root, timestamp, snapshot, listed("targets"), listed(layout.BINS_ROLE)
    )
