"""Build TUF metadata for the PEP 458 layout from values: no disk, no clock.

Every function takes the time ``now`` and returns python-tuf ``Metadata`` objects,
so tests can build a repository "at" any instant and expiry is testable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Role,
    Root,
    Snapshot,
    SuccinctRoles,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from .. import layout
from ..errors import SettingError

__all__ = [
    "DEFAULT_EXPIRY",
    "Expiry",
    "InitialKeys",
    "check_root_threshold",
    "expires_at",
    "initial_metadata",
    "new_bin",
    "new_snapshot",
    "new_timestamp",
    "serialize",
    "sign",
]

_SERIALIZER = JSONSerializer(compact=True)


@dataclass(frozen=True)
class Expiry:
    """How long each role's metadata stays valid after it is signed (DESIGN §4)."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=365)
    bins: timedelta = timedelta(days=365)
    bin_n: timedelta = timedelta(days=7)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)

    def for_role(self, role: str) -> timedelta:
        return self.bin_n if layout.is_bin_role(role) else getattr(self, role)

    def to_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name).total_seconds()) for name in self.__annotations__}

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> Expiry:
        unknown = set(data) - set(cls.__annotations__)
        if unknown:
            raise SettingError(f"unknown roles in expiry settings: {', '.join(sorted(unknown))}")
        return replace(cls(), **{k: timedelta(seconds=int(v)) for k, v in data.items()})


DEFAULT_EXPIRY = Expiry()


def expires_at(now: datetime, period: timedelta) -> datetime:
    """Expiry rounded down to whole seconds, as the TUF date format requires."""
    return (now + period).replace(microsecond=0)


@dataclass(frozen=True)
class InitialKeys:
    """Public keys of a new repository: t of n root keys, one key per offline role,
    and one online key shared by snapshot, timestamp and every bin."""

    root: tuple[Key, ...]
    root_threshold: int
    targets: Key
    bins: Key
    online: Key
    extra: Mapping[str, Key] = field(default_factory=dict)


def serialize(md: Metadata) -> bytes:
    """The bytes written to disk: compact JSON (clients download less)."""
    return md.to_bytes(_SERIALIZER)


def sign(md: Metadata, signers: list[Signer]) -> Metadata:
    """Replace all signatures on ``md`` with fresh ones from ``signers``."""
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)
    return md


def initial_metadata(
    keys: InitialKeys, number_of_bins: int, now: datetime, expiry: Expiry = DEFAULT_EXPIRY
) -> dict[str, Metadata]:
    """Version 1 of every role, unsigned, keyed by role name (all bins share one object).

    targets delegates everything under ``simple/*/*`` to ``bins`` (non-terminating,
    leaving room for PEP 480 delegations placed before it); ``bins`` delegates to
    2^k succinct hash bins signed by the online key (TAP 15).
    """
    check_root_threshold(keys.root_threshold, len(keys.root))
    layout.suffix_len(number_of_bins)  # validates the power of two
    root = Root(expires=expires_at(now, expiry.root), consistent_snapshot=True)
    for key in keys.root:
        root.add_key(key, "root")
    root.roles["root"].threshold = keys.root_threshold
    root.add_key(keys.targets, "targets")
    root.add_key(keys.online, "snapshot")
    root.add_key(keys.online, "timestamp")

    delegation = DelegatedRole(
        layout.BINS_ROLE, [keys.bins.keyid], 1, False, paths=[layout.PAGE_PATTERN]
    )
    targets = Targets(
        expires=expires_at(now, expiry.targets),
        delegations=Delegations({keys.bins.keyid: keys.bins}, {layout.BINS_ROLE: delegation}),
    )
    succinct = SuccinctRoles(
        [keys.online.keyid], 1, number_of_bins.bit_length() - 1, layout.BIN_PREFIX
    )
    bins = Targets(
        expires=expires_at(now, expiry.bins),
        delegations=Delegations({keys.online.keyid: keys.online}, succinct_roles=succinct),
    )
    roles: dict[str, Metadata] = {
        "root": Metadata(root),
        "targets": Metadata(targets),
        layout.BINS_ROLE: Metadata(bins),
    }
    # Every bin starts as the very same document (version 1, no targets, one
    # expiry): one object, so it is signed and serialized once for all 2^k bins.
    empty = new_bin(1, now, expiry)
    for name in succinct.get_roles():
        roles[name] = empty
    return roles


def new_bin(version: int, now: datetime, expiry: Expiry = DEFAULT_EXPIRY) -> Metadata:
    """An empty bin at ``version``."""
    return Metadata(Targets(version=version, expires=expires_at(now, expiry.bin_n)))


def new_snapshot(
    versions: Mapping[str, int], version: int, now: datetime, expiry: Expiry = DEFAULT_EXPIRY
) -> Metadata:
    """Snapshot listing only versions (no hashes or lengths) of every targets role."""
    meta = {layout.metadata_filename(role): MetaFile(v) for role, v in versions.items()}
    return Metadata(Snapshot(version=version, expires=expires_at(now, expiry.snapshot), meta=meta))


def new_timestamp(
    snapshot_bytes: bytes,
    snapshot_version: int,
    version: int,
    now: datetime,
    expiry: Expiry = DEFAULT_EXPIRY,
) -> Metadata:
    """Timestamp pinning the snapshot by version, length and sha256."""
    meta = MetaFile(
        snapshot_version,
        length=len(snapshot_bytes),
        hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
    )
    return Metadata(
        Timestamp(version=version, expires=expires_at(now, expiry.timestamp), snapshot_meta=meta)
    )


def role_keys(root: Root, role: str) -> tuple[list[Key], int]:
    """Keys and threshold of a top-level role."""
    entry: Role = root.roles[role]
    return [root.keys[k] for k in entry.keyids], entry.threshold


def check_root_threshold(threshold: int, root_keys: int) -> None:
    """Refuse a root threshold no set of the root keys could ever meet (or zero)."""
    if not 1 <= threshold <= root_keys:
        raise SettingError(
            f"root threshold {threshold} must be between 1 and {root_keys} (the root keys)"
        )
