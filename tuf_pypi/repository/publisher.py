"""Publishing: sign new and changed pages with the online key, incrementally.

The order of writes is the safety argument (DESIGN §5): page copies, then bins,
then the snapshot, then ``timestamp.json``. Until the timestamp is replaced no
client can reach anything this run wrote, so a crash at any point leaves the
previous state valid, and the next run, which starts again from what the
timestamp says, simply redoes the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from securesystemslib.signer import Signer
from tuf.api.metadata import Metadata, TargetFile, Targets

from .. import layout
from ..keys import KeyDirectory
from . import metadata as md_builder
from .metadata import DEFAULT_EXPIRY, Expiry
from .scan import Page, Skipped, project_dirs, read_project
from .storage import RepositoryStorage, publisher_lock
from .view import RepositoryView, load_view

__all__ = ["Clock", "PublishReport", "Publisher", "RefreshReport", "utcnow"]

Clock = Callable[[], datetime]
#: Called as progress(done, total) while pages are scanned.
Progress = Callable[[int, int], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PublishReport:
    """What one publish did, for the CLI summary and for tests."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unverifiable: dict[str, int] = field(default_factory=dict)
    bins_signed: list[str] = field(default_factory=list)
    snapshot_version: int | None = None
    timestamp_version: int | None = None

    @property
    def wrote_metadata(self) -> bool:
        return self.timestamp_version is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "repaired": self.repaired,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "unverifiable": self.unverifiable,
            "bins_signed": self.bins_signed,
            "snapshot_version": self.snapshot_version,
            "timestamp_version": self.timestamp_version,
        }


@dataclass
class RefreshReport:
    """Roles re-signed by a refresh, and the new snapshot/timestamp versions."""

    resigned: list[str] = field(default_factory=list)
    snapshot_version: int | None = None
    timestamp_version: int | None = None


class Publisher:
    """Signs a repository's pages with the online key. Never needs an offline key."""

    def __init__(
        self,
        repo: Path,
        keys: KeyDirectory,
        *,
        state_dir: Path | None = None,
        expiry: Expiry = DEFAULT_EXPIRY,
        clock: Clock = utcnow,
        storage: RepositoryStorage | None = None,
        wait_for_lock: bool = True,
    ) -> None:
        self.storage = storage or RepositoryStorage(repo)
        self.keys = keys
        self.lock_file = (state_dir or keys.path) / "publish.lock"
        self.expiry = expiry
        self.clock = clock
        self.wait_for_lock = wait_for_lock
        self._signers: dict[str, Signer] = {}

    # -- public operations -------------------------------------------------------

    def publish(
        self, projects: Iterable[str] | None = None, progress: Progress | None = None
    ) -> PublishReport:
        """Sign every new/changed page (all projects, or only ``projects``).

        Project names are normalized; a name that is not a valid project name
        raises ``layout.LayoutError`` before anything is written.
        """
        selected = None if projects is None else sorted({_project(p) for p in projects})
        with publisher_lock(self.lock_file, self.wait_for_lock):
            self.storage.remove_stale_temp_files()
            view = load_view(self.storage)
            report = PublishReport()
            changes = self._collect_changes(view, selected, report, progress)
            if changes:
                self._commit(view, changes, report)
            return report

    def refresh(self, within: timedelta) -> RefreshReport:
        """Re-sign online roles expiring within ``within`` (bumping their versions)."""
        with publisher_lock(self.lock_file, self.wait_for_lock):
            self.storage.remove_stale_temp_files()
            view = load_view(self.storage)
            deadline = self.clock() + within
            stale_bins = {
                name: {} for name in view.bin_names() if view.bin(name).signed.expires <= deadline
            }
            report = RefreshReport(resigned=sorted(stale_bins))
            if (
                stale_bins
                or view.snapshot.signed.expires <= deadline
                or view.timestamp.signed.expires <= deadline
            ):
                publish_report = PublishReport()
                self._commit(view, stale_bins, publish_report)
                report.resigned += ["snapshot", "timestamp"]
                report.snapshot_version = publish_report.snapshot_version
                report.timestamp_version = publish_report.timestamp_version
            return report

    # -- scanning ----------------------------------------------------------------

    def _collect_changes(
        self,
        view: RepositoryView,
        selected: list[str] | None,
        report: PublishReport,
        progress: Progress | None,
    ) -> dict[str, dict[str, TargetFile | None]]:
        """Per bin, the target paths to set (TargetFile) or delete (None).

        Page copies are written here, before any bin is signed (write order).
        """
        if selected is None:
            names: list[str] = []
            for entry in project_dirs(self.storage):
                if isinstance(entry, Skipped):
                    report.skipped.append(entry)
                else:
                    names.append(entry)
        else:
            names = selected
        changes: dict[str, dict[str, TargetFile | None]] = {}
        for done, project in enumerate(names, 1):
            for form, page in read_project(self.storage, project):
                path = layout.page_target(project, form)
                bin_name = view.bin_of(path)
                current = view.bin(bin_name).signed.targets.get(path)
                if isinstance(page, Skipped):
                    report.skipped.append(page)  # the signed version (if any) stays
                elif page is None:
                    if current is not None:
                        changes.setdefault(bin_name, {})[path] = None
                        report.removed.append(path)
                else:
                    self._stage_page(page, current, bin_name, changes, report)
            if progress:
                progress(done, len(names))
        if selected is None:
            self._collect_vanished(view, set(names), changes, report)
        return changes

    def _stage_page(
        self,
        page: Page,
        current: TargetFile | None,
        bin_name: str,
        changes: dict[str, dict[str, TargetFile | None]],
        report: PublishReport,
    ) -> None:
        if page.unverifiable:
            report.unverifiable[page.path] = page.unverifiable
        copy = self.storage.root / layout.SIMPLE_DIR / page.project
        copy = copy / layout.consistent_name(page.form, page.sha256)
        if (
            current is not None
            and current.hashes.get("sha256") == page.sha256
            and current.length == page.length
        ):
            report.unchanged += 1
            if not copy.is_file() or copy.stat().st_size != page.length:
                self.storage.write_atomic(copy, page.data)
                report.repaired.append(page.path)
            return
        self.storage.write_atomic(copy, page.data)
        target = TargetFile(page.length, {"sha256": page.sha256}, page.path)
        changes.setdefault(bin_name, {})[page.path] = target
        (report.added if current is None else report.changed).append(page.path)

    def _collect_vanished(
        self,
        view: RepositoryView,
        present: set[str],
        changes: dict[str, dict[str, TargetFile | None]],
        report: PublishReport,
    ) -> None:
        """Targets of projects whose directory is gone (full publish only)."""
        for bin_name in view.bin_names():
            for path in view.bin(bin_name).signed.targets:
                if layout.parse_page_target(path).project not in present:
                    changes.setdefault(bin_name, {})[path] = None
                    report.removed.append(path)

    # -- writing -----------------------------------------------------------------

    def _signers_for(
        self, keyids: list[str], keys: dict, threshold: int, role: str
    ) -> list[Signer]:
        """Signers for ``threshold`` of ``keyids``, opened once per publisher."""
        signers = []
        for keyid in keyids:
            if keyid not in self._signers:
                self._signers[keyid] = self.keys.signer_for(keys[keyid], role)
            signers.append(self._signers[keyid])
            if len(signers) == threshold:
                break
        return signers

    def _resign(self, md: Metadata, version: int, role: str, signers: list[Signer]) -> bytes:
        md.signed.version = version
        md.signed.expires = md_builder.expires_at(self.clock(), self.expiry.for_role(role))
        md_builder.sign(md, signers)
        return md_builder.serialize(md)

    def _commit(
        self,
        view: RepositoryView,
        changes: dict[str, dict[str, TargetFile | None]],
        report: PublishReport,
    ) -> None:
        """Write new bins, then the snapshot, then the timestamp (in that order)."""
        root = view.root.signed
        succinct = view.succinct
        assert view.bins.signed.delegations is not None
        bin_signers = self._signers_for(
            succinct.keyids, view.bins.signed.delegations.keys, succinct.threshold, "bin-n"
        )
        versions = {
            layout.role_of_metadata_filename(name): meta.version
            for name, meta in view.snapshot.signed.meta.items()
        }
        for bin_name in sorted(changes):
            md: Metadata[Targets] = view.bin(bin_name)
            for path, target in changes[bin_name].items():
                if target is None:
                    md.signed.targets.pop(path, None)
                else:
                    md.signed.targets[path] = target
            version = view.version_of(bin_name) + 1
            data = self._resign(md, version, bin_name, bin_signers)
            self.storage.write_metadata(layout.metadata_filename(bin_name, version), data)
            versions[bin_name] = version
            report.bins_signed.append(bin_name)

        keys, threshold = md_builder.role_keys(root, "snapshot")
        snapshot_version = view.snapshot.signed.version + 1
        snapshot = md_builder.new_snapshot(versions, snapshot_version, self.clock(), self.expiry)
        md_builder.sign(
            snapshot, self._signers_for([k.keyid for k in keys], root.keys, threshold, "snapshot")
        )
        snapshot_bytes = md_builder.serialize(snapshot)
        self.storage.write_metadata(
            layout.metadata_filename("snapshot", snapshot_version), snapshot_bytes
        )

        keys, threshold = md_builder.role_keys(root, "timestamp")
        timestamp_version = view.timestamp.signed.version + 1
        timestamp = md_builder.new_timestamp(
            snapshot_bytes, snapshot_version, timestamp_version, self.clock(), self.expiry
        )
        md_builder.sign(
            timestamp, self._signers_for([k.keyid for k in keys], root.keys, threshold, "timestamp")
        )
        self.storage.sync_dirs()
        self.storage.write_metadata(
            layout.metadata_filename("timestamp"), md_builder.serialize(timestamp)
        )
        report.snapshot_version = snapshot_version
        report.timestamp_version = timestamp_version


def _project(name: str) -> str:
    normalized = layout.normalize(name.strip())
    if not layout.is_normalized(normalized):
        raise layout.LayoutError(f"{name!r} is not a valid project name")
    return normalized
