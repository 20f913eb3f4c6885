"""The published state in the form publishing needs: plain dicts, loaded lazily.

:class:`RepositoryView` gives python-tuf ``Metadata`` objects, which is right for
auditing and status. Publishing at PyPI scale needs less and faster: the role
versions the snapshot lists (a dict of ints), and per bin its targets as the dicts
the JSON holds. Bins are read with ``json.loads`` only when a page hashes into them.

The state is a pure function of the bytes of ``timestamp.json``: a publisher keeps
it between runs and reuses it only when ``timestamp.json`` still holds exactly the
bytes it last wrote or read (so another publisher's commit is never missed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tuf.api.metadata import Key, Metadata, Root, SuccinctRoles, Targets

from .. import layout
from .storage import RepositoryStorage, StorageError

__all__ = ["PublishedState", "load_state", "parse_expires"]


def _reject_float(text: str) -> Any:
    raise ValueError(f"number {text} is not an integer (TUF metadata has no floats)")


def load_json(storage: RepositoryStorage, filename: str) -> dict[str, Any]:
    """A metadata file as JSON (floats refused, so canonical encoding cannot fail)."""
    data = storage.read_metadata(filename)
    try:
        doc = json.loads(data, parse_float=_reject_float, parse_constant=_reject_float)
        if not isinstance(doc, dict) or not isinstance(doc.get("signed"), dict):
            raise ValueError("no 'signed' object")
        return doc
    except ValueError as e:
        raise StorageError(f"{storage.metadata_dir / filename} is not valid metadata: {e}") from e


def parse_expires(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


@dataclass
class PublishedState:
    """What ``timestamp.json`` names, as publishing uses it."""

    timestamp_bytes: bytes
    root: Root
    timestamp_version: int
    timestamp_expires: datetime
    snapshot_version: int
    snapshot_expires: datetime
    #: snapshot ``meta``: role file name (``bin-0a.json``) -> version.
    meta: dict[str, int]
    succinct: SuccinctRoles
    bin_keys: dict[str, Key]
    #: bin name -> its signed dict (targets as JSON dicts), loaded on first use.
    bins: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: bin name -> (its targets dict, their rendered texts): see ``Publisher._commit``.
    rendered: dict[str, tuple[dict[str, Any], dict[str, str]]] = field(
        default_factory=dict, repr=False
    )
    _bin_table: tuple[SuccinctRoles, list[str]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def number_of_bins(self) -> int:
        return self.succinct.number_of_bins

    def bin_names(self) -> list[str]:
        return list(self.succinct.get_roles())

    def bin_of(self, target_path: str) -> str:
        """The bin of a target path: ``succinct.get_role_for_target``, but cheaper.

        A full publish asks this 1.5 million times; the names are computed once
        per delegation (``tests/repository/test_state.py`` checks that both agree).
        """
        table = self._bin_table
        if table is None or table[0] is not self.succinct:
            table = self._bin_table = (self.succinct, self.bin_names())
        names = table[1]
        return names[layout.bin_index(target_path, len(names))]

    def version_of(self, role: str) -> int:
        version = self.meta.get(f"{role}.json")
        if version is None:
            raise StorageError(f"snapshot does not list {role}")
        return version

    def bin_signed(self, storage: RepositoryStorage, name: str) -> dict[str, Any]:
        signed = self.bins.get(name)
        if signed is None:
            version = self.version_of(name)
            signed = load_json(storage, layout.metadata_filename(name, version))["signed"]
            if not isinstance(signed.get("targets"), dict):
                raise StorageError(f"{name} v{version} has no targets object")
            self.bins[name] = signed
        return signed

    def bin_targets(self, storage: RepositoryStorage, name: str) -> dict[str, Any]:
        return self.bin_signed(storage, name)["targets"]

    def adopt(self, roles: Mapping[str, Metadata]) -> None:
        """Name new offline roles (root, targets, bins), as a commit publishes them.

        A new bins role brings its delegation: bin names, count and keys.
        """
        if "root" in roles:
            self.root = roles["root"].signed
        for role in ("targets", layout.BINS_ROLE):
            if role in roles:
                self.meta[layout.metadata_filename(role)] = roles[role].signed.version
        if layout.BINS_ROLE in roles:
            delegations = roles[layout.BINS_ROLE].signed.delegations
            if delegations is None or delegations.succinct_roles is None:
                raise StorageError("bins metadata has no succinct hash bin delegation")
            self.succinct = delegations.succinct_roles
            self.bin_keys = dict(delegations.keys)


def load_state(storage: RepositoryStorage) -> PublishedState:
    """Read the published state; raises StorageError naming what is missing."""
    root = storage.load_metadata(
        layout.metadata_filename("root", storage.newest_root_version())
    ).signed
    timestamp_bytes = storage.read_metadata(layout.metadata_filename("timestamp"))
    try:
        timestamp = json.loads(timestamp_bytes)["signed"]
        snapshot_version = int(timestamp["meta"]["snapshot.json"]["version"])
    except (ValueError, KeyError, TypeError) as e:
        raise StorageError(f"{storage.metadata_dir / 'timestamp.json'} is not valid: {e}") from e
    snapshot = load_json(storage, layout.metadata_filename("snapshot", snapshot_version))["signed"]
    try:
        meta = {str(name): int(m["version"]) for name, m in snapshot["meta"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise StorageError(f"snapshot v{snapshot_version} has a malformed meta: {e}") from e
    bins_version = meta.get(layout.metadata_filename(layout.BINS_ROLE))
    if bins_version is None:
        raise StorageError(f"snapshot does not list {layout.BINS_ROLE}")
    bins: Metadata[Targets] = storage.load_metadata(
        layout.metadata_filename(layout.BINS_ROLE, bins_version)
    )
    delegations = bins.signed.delegations
    if delegations is None or delegations.succinct_roles is None:
        raise StorageError("bins metadata has no succinct hash bin delegation")
    return PublishedState(
        timestamp_bytes=timestamp_bytes,
        root=root,
        timestamp_version=int(timestamp["version"]),
        timestamp_expires=parse_expires(timestamp["expires"]),
        snapshot_version=snapshot_version,
        snapshot_expires=parse_expires(snapshot["expires"]),
        meta=meta,
        succinct=delegations.succinct_roles,
        bin_keys=dict(delegations.keys),
    )
