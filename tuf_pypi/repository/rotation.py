"""Applying ceremonies to a repository: new offline-role versions, then the online roles.

Applying is the only step of a ceremony that touches the served tree, so it runs
in the publisher's transaction, which keeps the write order of DESIGN §5: re-signed
bins, new targets/bins files (unreachable until a snapshot lists them), then
N+1.root.json and root.json, then snapshot and timestamp, the timestamp last. When
the online key changed, every online role is re-signed with the new key in the same
run, so clients never meet metadata signed by a key their new root no longer trusts.

Recovery after a compromise (PEP 458, "Key compromise analysis") reuses the same
machinery: after the keys are replaced, :func:`restore_bins` sets every bin back to
a known-good snapshot and re-signs it with a higher version, so clients that saw
the attacker's metadata move past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root, SuccinctRoles, Targets

from .. import layout
from .ceremony import CeremonyError, Proposal, check_signatures, merge_proposals
from .changeset import ChangeSet
from .publisher import Publisher
from .state import load_json
from .storage import StorageError
from .view import RepositoryView, load_view

__all__ = [
    "ApplyReport",
    "RestoreReport",
    "apply_proposals",
    "read_proposals",
    "restore_bins",
    "restore_changes",
]


@dataclass
class ApplyReport:
    """Versions written by one apply."""

    applied: dict[str, int] = field(default_factory=dict)
    bins_resigned: int = 0
    snapshot_version: int | None = None
    timestamp_version: int | None = None


@dataclass
class RestoreReport:
    """What restoring the bins to a known-good snapshot changed."""

    known_good: int
    bins_resigned: int = 0
    targets_restored: int = 0
    targets_removed: int = 0
    missing_copies: list[str] = field(default_factory=list)
    snapshot_version: int | None = None
    timestamp_version: int | None = None


def read_proposals(files: Sequence[Path]) -> dict[str, Proposal]:
    """role -> one proposal, the signatures of every copy of the same role merged."""
    by_role: dict[str, list[tuple[str, Proposal]]] = {}
    for file in files:
        try:
            data = file.read_bytes()
        except OSError as e:
            raise CeremonyError(f"{file}: cannot read ({e.strerror})") from None
        proposal = Proposal.from_bytes(data, str(file))
        by_role.setdefault(proposal.role, []).append((str(file), proposal))
    return {role: merge_proposals(copies) for role, copies in by_role.items()}


def _expect_next(proposal: Proposal, current: int) -> None:
    if proposal.version != current + 1:
        raise CeremonyError(
            f"{proposal.role} proposal is v{proposal.version} but the repository has "
            f"v{current}: prepare it again against the current repository"
        )


def _trusted_by(md: Metadata, role: str, delegator: Root | Targets) -> bool:
    try:
        delegator.verify_delegate(role, md.signed_bytes, md.signatures)
    except (RepositoryError, ValueError):
        return False
    return True


def _check(view: RepositoryView, proposals: dict[str, Proposal]) -> tuple[Root, Targets, Targets]:
    """Check every proposal and the roles it leaves unchanged; return the new root/targets/bins.

    Unchanged roles must still verify under their (possibly new) delegator: a root
    that replaces the targets key is refused unless a targets proposal signed with
    the new key comes with it.
    """
    unknown = set(proposals) - {"root", "targets", layout.BINS_ROLE}
    if unknown:
        raise CeremonyError(f"cannot apply proposals for {', '.join(sorted(unknown))}")
    root, targets, bins = view.root, view.targets, view.bins
    if "root" in proposals:
        _expect_next(proposals["root"], view.root.signed.version)
        check_signatures(proposals["root"], view.root.signed, previous_root=view.root.signed)
        root = proposals["root"].metadata
    if "targets" in proposals:
        _expect_next(proposals["targets"], view.targets.signed.version)
        check_signatures(proposals["targets"], root.signed)
        targets = proposals["targets"].metadata
    elif not _trusted_by(targets, "targets", root.signed):
        raise CeremonyError(
            f"targets v{targets.signed.version} is not signed by the targets key(s) of the new "
            "root: apply a targets proposal signed with the new key together with it"
        )
    if layout.BINS_ROLE in proposals:
        _expect_next(proposals[layout.BINS_ROLE], view.bins.signed.version)
        check_signatures(proposals[layout.BINS_ROLE], targets.signed)
        bins = proposals[layout.BINS_ROLE].metadata
        count = _succinct(bins.signed).number_of_bins
        if count != view.number_of_bins:
            raise CeremonyError(
                f"bins v{bins.signed.version} delegates to {count} bins but the repository "
                f"has {view.number_of_bins}: change the number of bins with tuf-pypi rebin"
            )
    elif not _trusted_by(bins, layout.BINS_ROLE, targets.signed):
        raise CeremonyError(
            f"bins v{bins.signed.version} is not signed by the bins key(s) of the new targets: "
            "apply a bins proposal signed with the new key together with it"
        )
    return root.signed, targets.signed, bins.signed


def _succinct(bins: Targets) -> SuccinctRoles:
    if bins.delegations is None or bins.delegations.succinct_roles is None:
        raise CeremonyError(f"bins v{bins.version} has no succinct hash bin delegation")
    return bins.delegations.succinct_roles


def apply_proposals(publisher: Publisher, proposals: dict[str, Proposal]) -> ApplyReport:
    """Publish signed proposals (any of root, targets, bins) and re-sign what they affect.

    Refuses, before writing anything, a proposal that is not exactly one version
    ahead or lacks signatures (ThresholdError says which keys are missing).
    """
    report = ApplyReport()
    with publisher.transaction() as state:
        view = load_view(publisher.storage)
        _new_root, _new_targets, new_bins = _check(view, proposals)
        changes = ChangeSet()
        for role in ("targets", layout.BINS_ROLE, "root"):
            if role in proposals:
                md = proposals[role].metadata
                changes.publish_role(role, md)
                report.applied[role] = md.signed.version
        if _succinct(new_bins).keyids != _succinct(view.bins.signed).keyids:
            for name in state.bin_names():
                changes.resign(name)  # with the new bins key
        committed = publisher.commit(state, changes)
        report.bins_resigned = len(changes.bins)
        report.snapshot_version = committed.snapshot_version
        report.timestamp_version = committed.timestamp_version
    return report


def restore_changes(current: dict[str, Any], good: dict[str, Any]) -> dict[str, Any]:
    """Target changes that turn bin targets ``current`` back into ``good`` (None deletes)."""
    changes: dict[str, Any] = {path: None for path in current if path not in good}
    for path, target in good.items():
        if current.get(path) != target:
            changes[path] = target
    return changes


def restore_bins(publisher: Publisher, known_good_snapshot: int) -> RestoreReport:
    """Set every bin back to its content in snapshot ``known_good_snapshot`` and re-sign.

    Every bin gets a new version signed by the current online key (replace the
    keys first), then a new snapshot and timestamp: clients that fetched an
    attacker's bins see higher versions and move back to the known-good targets.
    Page copies the restored targets need but that are missing are reported.
    """
    storage = publisher.storage
    report = RestoreReport(known_good_snapshot)
    with publisher.transaction() as state:
        if not 1 <= known_good_snapshot <= state.snapshot_version:
            raise StorageError(
                f"snapshot v{known_good_snapshot} does not exist "
                f"(published: v{state.snapshot_version})"
            )
        good = load_json(storage, layout.metadata_filename("snapshot", known_good_snapshot))
        good_meta = good["signed"]["meta"]
        changes = ChangeSet()
        for name in state.bin_names():
            meta = good_meta.get(layout.metadata_filename(name))
            if meta is None:
                raise StorageError(f"snapshot v{known_good_snapshot} does not list {name}")
            good_bin = load_json(storage, layout.metadata_filename(name, meta["version"]))
            restored = restore_changes(
                state.bin_targets(storage, name), good_bin["signed"]["targets"]
            )
            changes.resign(name)
            for path, target in restored.items():
                changes.set(name, path, target)
                if target is None:
                    report.targets_removed += 1
                    continue
                report.targets_restored += 1
                page = layout.parse_page_target(path)
                copy = storage.simple_dir / page.project
                copy = copy / layout.consistent_name(page.form, target["hashes"]["sha256"])
                if not copy.is_file():
                    report.missing_copies.append(str(copy.relative_to(storage.root)))
        committed = publisher.commit(state, changes)
        report.bins_resigned = len(changes.bins)
        report.snapshot_version = committed.snapshot_version
        report.timestamp_version = committed.timestamp_version
    return report
