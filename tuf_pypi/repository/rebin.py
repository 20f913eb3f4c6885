"""Changing the number of hash bins of a live repository (``tuf-pypi rebin``).

The bin count is a property of the offline ``bins`` role (its TAP 15 succinct
delegation), so changing it needs the bins key. Everything else is online work:

1. every page target is moved into the bin its path hashes into under the new count;
2. every new bin is signed (online key) at a version higher than any version of
   that name ever published, because names can come back: 16 -> 32 bins
   (``bin-0`` .. ``bin-f`` -> ``bin-00`` .. ``bin-1f``) retires all names, but 32 -> 64
   keeps ``bin-00`` .. ``bin-1f``, and 64 -> 16 -> 64 brings old names back. A client
   that saw ``bin-0a`` v7 must never be offered ``bin-0a`` v1;
3. bins version N+1 with the new delegation (bins key);
4. one snapshot, one timestamp.

Retired names stay in the snapshot. TUF (spec 5.5.5, python-tuf's
``TrustedMetadataSet.update_snapshot``) refuses a new snapshot that drops a role the
client's trusted snapshot lists, so a snapshot listing only the new bins would lock
every existing client out. Each retired bin is re-signed once, empty, at a higher
version: the snapshot's rollback check passes, no delegation points at it so no
client downloads it, and the page copies it named become garbage for ``gc`` once
the grace period has passed. Its expiry is not refreshed afterwards (nothing reads
it); ``verify`` accepts such retired bins.

Rebin says all this as a change set (every new bin replaced, every retired one
emptied, the new bins role) and the publisher's transaction does the rest:
versions, and DESIGN §5's write order: new bins (one syncfs), ``N.bins.json``,
snapshot, timestamp last, all under the publisher lock. Until the timestamp is
replaced clients see the old repository; a crash before that leaves it as it
was, and running rebin again redoes the work (versions are computed from what is
on disk, so the rerun signs above any file a crashed run left).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from securesystemslib.signer import Signer
from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, SuccinctRoles, Targets

from .. import layout
from ..errors import SettingError
from ..keys import KeyFileError
from . import metadata as md_builder
from .changeset import ChangeSet
from .publisher import Publisher
from .state import PublishedState
from .storage import RepositoryStorage, StorageError
from .view import load_view

__all__ = [
    "RebinReport",
    "rebin",
    "rebin_targets",
]


@dataclass
class RebinReport:
    """What one rebin wrote."""

    old_bins: int
    new_bins: int
    targets: int = 0
    bins_version: int | None = None
    bins_signed: int = 0
    retired: int = 0
    snapshot_version: int | None = None
    timestamp_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rebin_targets(
    bins: Iterable[Mapping[str, Any]], number_of_bins: int
) -> dict[str, dict[str, Any]]:
    """Every bin name of the new count -> the targets that hash into it (pure).

    ``bins`` are the targets dicts of the current bins; the result has one entry
    per new bin, empty bins included, so every name gets signed.
    """
    succinct = _succinct([], 1, number_of_bins)
    moved: dict[str, dict[str, Any]] = {name: {} for name in succinct.get_roles()}
    for targets in bins:
        for path, target in targets.items():
            moved[succinct.get_role_for_target(path)][path] = target
    return moved


def _succinct(keyids: list[str], threshold: int, number_of_bins: int) -> SuccinctRoles:
    layout.suffix_len(number_of_bins)  # a power of two in range, or LayoutError
    return SuccinctRoles(keyids, threshold, number_of_bins.bit_length() - 1, layout.BIN_PREFIX)


def _bins_signers(publisher: Publisher, targets: Targets) -> list[Signer]:
    """Signers for the bins role (offline key): all needed before anything is written."""
    delegations = targets.delegations
    role = (
        None
        if delegations is None or delegations.roles is None
        else delegations.roles.get(layout.BINS_ROLE)
    )
    if delegations is None or role is None:
        raise StorageError("targets does not delegate to bins")
    signers: list[Signer] = []
    missing: list[str] = []
    for keyid in role.keyids:
        try:
            signers.append(publisher.keys.signer_for(delegations.keys[keyid], layout.BINS_ROLE))
        except KeyFileError as e:
            missing.append(str(e))
        if len(signers) == role.threshold:
            return signers
    raise KeyFileError(
        f"rebin signs a new bins role and needs {role.threshold} bins key(s) (offline keys) "
        f"in {publisher.keys.path}; found {len(signers)}: " + "; ".join(missing)
    )


def _new_bins_role(
    current: Metadata[Targets], number_of_bins: int, publisher: Publisher, signers: list[Signer]
) -> Metadata[Targets]:
    md: Metadata[Targets] = Metadata.from_bytes(md_builder.serialize(current))
    delegations = md.signed.delegations
    if delegations is None or delegations.succinct_roles is None:
        raise StorageError("bins metadata has no succinct hash bin delegation")
    old = delegations.succinct_roles
    delegations.succinct_roles = _succinct(list(old.keyids), old.threshold, number_of_bins)
    md.signed.version += 1
    md.signed.expires = md_builder.expires_at(publisher.clock(), publisher.expiry.bins)
    return md_builder.sign(md, signers)


def _reading(
    state: PublishedState,
    storage: RepositoryStorage,
    names: list[str],
    progress: Callable[[str, int, int], None] | None,
) -> Iterator[dict[str, Any]]:
    for done, name in enumerate(names, 1):
        yield state.bin_targets(storage, name)
        if progress is not None:
            progress("reading bins", done, len(names))


def rebin(
    publisher: Publisher,
    number_of_bins: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> RebinReport:
    """Move every target into ``number_of_bins`` bins and publish it (see module doc).

    Needs the bins key in the publisher's key directory (a key file or a signer
    URI); fails before writing anything without it, or when the count is unchanged.
    ``progress(stage, done, total)`` is told as the old bins are read.
    """
    storage = publisher.storage
    with publisher.transaction() as state:
        old_count = state.number_of_bins
        report = RebinReport(old_count, number_of_bins)
        if number_of_bins == old_count:
            raise SettingError(f"the repository already has {number_of_bins} bins")
        _succinct([], 1, number_of_bins)  # validate before loading anything
        view = load_view(storage)
        signers = _bins_signers(publisher, view.targets.signed)
        old_names = state.bin_names()
        moved = rebin_targets(_reading(state, storage, old_names, progress), number_of_bins)
        report.targets = sum(len(t) for t in moved.values())
        bins_md = _new_bins_role(view.bins, number_of_bins, publisher, signers)
        try:
            view.targets.signed.verify_delegate(
                layout.BINS_ROLE, bins_md.signed_bytes, bins_md.signatures
            )
        except (RepositoryError, ValueError) as e:
            raise KeyFileError(f"the new bins role does not verify under targets: {e}") from e
        changes = ChangeSet()
        for name, targets in moved.items():
            changes.replace(name, targets)
        for name in old_names:
            if name not in moved:
                changes.retire(name)
        changes.publish_role(layout.BINS_ROLE, bins_md)
        committed = publisher.commit(state, changes)
        report.bins_version = bins_md.signed.version
        report.bins_signed, report.retired = len(moved), len(changes.retired)
        report.snapshot_version = committed.snapshot_version
        report.timestamp_version = committed.timestamp_version
    return report
