"""Key ceremonies as values: prepare, describe, sign, merge and check offline-role changes.

A change to an offline role (root, targets or bins) travels between key holders as a
*proposal* file: the new metadata, with whatever signatures it has collected so far,
plus the role name (targets and bins are both of TUF type "targets"). Each holder
signs on their own machine, so the file is the only thing that crosses the air gap.

Everything here works on values (no disk, no clock, no prompt) so that every rule of
a ceremony (version + 1, thresholds of both the old and the new root, "same payload
or refuse") is testable on its own; ``rotation.py`` and the CLI do the I/O.

What a holder reviews is what they sign: key *values*, not key ids. The review lists
every key of the old and new version by its fingerprint (the id computed from the
key value, :func:`tuf_pypi.keys.computed_keyid`) and flags a value that changed
behind a kept id, and it prints the sha256 of the exact bytes the signature covers,
so holders can compare both out of band. Metadata naming a key under an id that is
not its computed id is refused by prepare, sign and apply (:func:`check_key_ids`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root, Signed, Targets
from tuf.api.serialization.json import CanonicalJSONSerializer

from .. import layout
from ..errors import RepoError
from ..keys import computed_keyid
from .metadata import expires_at

__all__ = [
    "CEREMONY_ROLES",
    "CeremonyError",
    "Proposal",
    "ThresholdError",
    "check_key_ids",
    "check_signatures",
    "describe_change",
    "key_assignments",
    "merge_proposals",
    "payload_sha256",
    "prepare_bins",
    "prepare_root",
    "prepare_targets",
    "sign_proposal",
]

_FORMAT = "tuf-pypi-ceremony-v1"
#: Roles whose changes go through a ceremony (the offline roles, DESIGN §4).
CEREMONY_ROLES = layout.OFFLINE_ROLES
#: The name under which succinct hash bins appear in key listings and diffs.
_BIN_N = "bin-n"


class CeremonyError(RepoError):
    """A proposal that cannot be used; the message names the file or role."""


class ThresholdError(CeremonyError):
    """Not enough valid signatures; the message says how many and from which keys."""


@dataclass
class Proposal:
    """New metadata for ``role`` and the signatures collected so far."""

    role: str
    metadata: Metadata

    @property
    def signed(self) -> Signed:
        return self.metadata.signed

    @property
    def version(self) -> int:
        return self.metadata.signed.version

    def to_bytes(self) -> bytes:
        document = {"format": _FORMAT, "role": self.role, "metadata": self.metadata.to_dict()}
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Proposal:
        """Parse a proposal file; ``source`` names it in errors."""
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise CeremonyError(f"{source}: not a tuf-pypi proposal (not JSON)") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise CeremonyError(f"{source}: not a tuf-pypi proposal")
        role = document.get("role")
        if role not in CEREMONY_ROLES:
            raise CeremonyError(f"{source}: unknown role {role!r}")
        try:
            metadata = Metadata.from_dict(document["metadata"])
        except (RepositoryError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CeremonyError(f"{source}: malformed {role} metadata ({e})") from None
        expected = Root if role == "root" else Targets
        if not isinstance(metadata.signed, expected):
            raise CeremonyError(f"{source}: role {role} but metadata type {metadata.signed.type}")
        return cls(role, metadata)


# -- preparing ------------------------------------------------------------------------


def _next(md: Metadata, now: datetime, lifetime: timedelta) -> Metadata:
    """A copy of ``md``, unsigned, one version on, expiring ``lifetime`` after ``now``."""
    # deepcopy: python-tuf's to_dict() shares lists (keyids) with the original.
    new = Metadata.from_dict(copy.deepcopy(md.to_dict()))
    new.signatures.clear()
    new.signed.version += 1
    new.signed.expires = expires_at(now, lifetime)
    return new


def _replace_keys(add: Any, revoke: Any, current: Sequence[str], new: Key, role: Any) -> None:
    """Make ``new`` the only key of a role (add first: revoking the last key is refused)."""
    add(new, role)
    for keyid in current:
        if keyid != new.keyid:
            revoke(keyid, role)


def prepare_root(
    current: Metadata[Root],
    now: datetime,
    lifetime: timedelta,
    *,
    add_keys: Iterable[Key] = (),
    remove_keyids: Iterable[str] = (),
    threshold: int | None = None,
    online_key: Key | None = None,
    targets_key: Key | None = None,
) -> Proposal:
    """Root version N+1: root keys added/removed, threshold, online or targets key replaced."""
    md = _next(current, now, lifetime)
    root: Root = md.signed
    for key in add_keys:
        if key.keyid in root.roles["root"].keyids:
            raise CeremonyError(f"key {key.keyid} is already a root key")
        root.add_key(key, "root")
    for keyid in remove_keyids:
        if keyid not in root.roles["root"].keyids:
            raise CeremonyError(f"key {keyid} is not a root key of root v{current.signed.version}")
        root.revoke_key(keyid, "root")
    if threshold is not None:
        root.roles["root"].threshold = threshold
    replaced = {"snapshot": online_key, "timestamp": online_key, "targets": targets_key}
    for role, key in replaced.items():
        if key is not None:
            _replace_keys(root.add_key, root.revoke_key, list(root.roles[role].keyids), key, role)
    for role, entry in root.roles.items():
        if not 1 <= entry.threshold <= len(entry.keyids):
            raise CeremonyError(
                f"{role} threshold {entry.threshold} must be between 1 and its "
                f"{len(entry.keyids)} keys"
            )
    check_key_ids("root", root)
    return Proposal("root", md)


def prepare_targets(
    current: Metadata[Targets], now: datetime, lifetime: timedelta, *, bins_key: Key | None = None
) -> Proposal:
    """Targets version N+1, optionally delegating ``bins`` to a new key."""
    md = _next(current, now, lifetime)
    if bins_key is not None:
        targets: Targets = md.signed
        if targets.delegations is None or targets.delegations.roles is None:
            raise CeremonyError("targets has no delegation to bins")
        keyids = list(targets.delegations.roles[layout.BINS_ROLE].keyids)
        _replace_keys(targets.add_key, targets.revoke_key, keyids, bins_key, layout.BINS_ROLE)
    check_key_ids("targets", md.signed)
    return Proposal("targets", md)


def prepare_bins(
    current: Metadata[Targets],
    now: datetime,
    lifetime: timedelta,
    *,
    online_key: Key | None = None,
) -> Proposal:
    """Bins version N+1, optionally delegating every bin-n to a new online key."""
    md = _next(current, now, lifetime)
    if online_key is not None:
        bins: Targets = md.signed
        if bins.delegations is None or bins.delegations.succinct_roles is None:
            raise CeremonyError("bins has no succinct hash bin delegation")
        keyids = list(bins.delegations.succinct_roles.keyids)
        _replace_keys(bins.add_key, bins.revoke_key, keyids, online_key, None)
    check_key_ids(layout.BINS_ROLE, md.signed)
    return Proposal(layout.BINS_ROLE, md)


# -- describing -----------------------------------------------------------------------


def key_assignments(signed: Signed) -> dict[str, tuple[tuple[str, ...], int]]:
    """role -> (keyids, threshold) for every role ``signed`` delegates to."""
    if isinstance(signed, Root):
        return {name: (tuple(r.keyids), r.threshold) for name, r in signed.roles.items()}
    assert isinstance(signed, Targets)
    delegations = signed.delegations
    if delegations is None:
        return {}
    result = {name: (tuple(r.keyids), r.threshold) for name, r in (delegations.roles or {}).items()}
    if delegations.succinct_roles is not None:
        succinct = delegations.succinct_roles
        result[_BIN_N] = (tuple(succinct.keyids), succinct.threshold)
    return result


def _keys_of(signed: Signed) -> dict[str, Key]:
    if isinstance(signed, Root):
        return dict(signed.keys)
    delegations = signed.delegations  # type: ignore[attr-defined]
    return dict(delegations.keys) if delegations is not None else {}


def payload_sha256(signed: Signed) -> str:
    """sha256 of the exact bytes a signature over ``signed`` covers (canonical JSON)."""
    return hashlib.sha256(CanonicalJSONSerializer().serialize(signed)).hexdigest()


def check_key_ids(role: str, signed: Signed) -> None:
    """Refuse metadata that names a key under an id other than the key's computed id.

    TUF clients look keys up by id, and holders review ids: an id that is not the
    hash of its key value would let a proposal keep every id and swap a key.
    """
    wrong = [
        f"{keyid} (its key value's id is {computed_keyid(key)})"
        for keyid, key in sorted(_keys_of(signed).items())
        if computed_keyid(key) != keyid
    ]
    if wrong:
        raise CeremonyError(
            f"{role} v{signed.version} lists keys under ids that are not their own: "
            f"{'; '.join(wrong)}. Refusing: a key id must be the sha256 of the key "
            "value, or a key can be swapped behind a trusted id"
        )


def _fingerprint(key: Key) -> str:
    return f"{computed_keyid(key)} {key.keytype}/{key.scheme}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _roles_of(keyid: str, assignments: Mapping[str, tuple[tuple[str, ...], int]]) -> str:
    return ", ".join(name for name, (keyids, _) in sorted(assignments.items()) if keyid in keyids)


def _key_lines(old: Signed | None, new: Signed) -> list[str]:
    """One line per key of ``old`` and ``new``: fingerprint, roles, what changed.

    The fingerprint is computed from the key value, never read from the file, so a
    value swapped behind a kept id shows up as a changed fingerprint.
    """
    old_keys = _keys_of(old) if old is not None else {}
    new_keys = _keys_of(new)
    old_roles = key_assignments(old) if old is not None else {}
    new_roles = key_assignments(new)
    lines = ["  keys by fingerprint (sha256 of the key value; 'tuf-pypi key show' prints it):"]
    for keyid in sorted(set(old_keys) | set(new_keys)):
        before, after = old_keys.get(keyid), new_keys.get(keyid)
        if after is None:
            assert before is not None
            roles = _roles_of(keyid, old_roles) or "unused"
            lines.append(f"    - {_fingerprint(before)} [{roles}] removed")
            continue
        notes = []
        if before is None:
            marker = "+" if old is not None else " "
            notes.append("added" if old is not None else "")
        elif before.to_dict() == after.to_dict():
            marker = " "
            notes.append("unchanged")
        else:
            marker = "!"
            notes.append(f"KEY VALUE CHANGED, was {_fingerprint(before)}")
        if computed_keyid(after) != keyid:
            marker = "!"
            notes.append(f"listed under id {keyid}, which is NOT its fingerprint")
        roles = _roles_of(keyid, new_roles) or "unused"
        text = "; ".join(n for n in notes if n)
        lines.append(f"    {marker} {_fingerprint(after)} [{roles}] {text}".rstrip())
    return lines


def _undescribed(signed: Signed) -> dict[str, Any]:
    """``signed`` as a dict without the fields :func:`describe_change` spells out."""
    data = copy.deepcopy(signed.to_dict())
    for name in ("version", "expires", "keys", "consistent_snapshot"):
        data.pop(name, None)
    if isinstance(signed, Targets):
        data.pop("targets", None)
    roles = list(data.get("roles", {}).values()) if isinstance(signed, Root) else []
    delegations = data.get("delegations") or {}
    delegations.pop("keys", None)
    roles += delegations.get("roles") or []
    roles += [delegations["succinct_roles"]] if delegations.get("succinct_roles") else []
    for entry in roles:
        entry.pop("keyids", None)
        entry.pop("threshold", None)
    return data


def _diff_paths(old: Any, new: Any, path: str) -> list[str]:
    """Where two JSON values differ, as paths like ``delegations.roles[0].paths``."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            found
            for name in sorted(set(old) | set(new))
            for found in _diff_paths(old.get(name), new.get(name), f"{path}.{name}".lstrip("."))
        ]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = enumerate(zip(old, new, strict=True))
        return [found for i, (a, b) in pairs for found in _diff_paths(a, b, f"{path}[{i}]")]
    return [] if old == new else [path or "(everything)"]


def _changed_values(old: Signed, new: Signed) -> set[str]:
    old_keys, new_keys = _keys_of(old), _keys_of(new)
    return {
        k for k in set(old_keys) & set(new_keys) if old_keys[k].to_dict() != new_keys[k].to_dict()
    }


def describe_change(role: str, old: Signed | None, new: Signed) -> list[str]:
    """Readable lines saying what signing ``new`` changes compared with ``old``.

    This is what a key holder confirms before signing: the sha256 of the signed
    bytes, versions, expiry, for every delegated role the keys added, removed or
    changed in value and the threshold, every key with its fingerprint, and the
    path of any other field that changed (a delegation's paths, the bin count...),
    so nothing in the signed bytes changes unseen.
    """
    payload = f"  signed bytes sha256 {payload_sha256(new)} (compare with the other holders)"
    if old is None:
        lines = [f"{role} v{new.version} (no current version to compare with)", payload]
        lines.append(f"  expires {_when(new.expires)}")
        for name, (keyids, threshold) in key_assignments(new).items():
            lines.append(f"  {name}: threshold {threshold} of {len(keyids)} keys")
        return lines + _key_lines(None, new)
    lines = [f"{role} v{old.version} -> v{new.version}", payload]
    if new.version != old.version + 1:
        lines.append(f"  WARNING: version jumps by {new.version - old.version}, expected +1")
    lines.append(f"  expires {_when(old.expires)} -> {_when(new.expires)}")
    keys = {**_keys_of(old), **_keys_of(new)}
    swapped = _changed_values(old, new)
    before, after = key_assignments(old), key_assignments(new)
    for name in sorted(set(before) | set(after)):
        old_ids, old_t = before.get(name, ((), 0))
        new_ids, new_t = after.get(name, ((), 0))
        changes = [f"+ key {_key_label(k, keys)}" for k in new_ids if k not in old_ids]
        changes += [f"- key {_key_label(k, keys)}" for k in old_ids if k not in new_ids]
        changes += [
            f"! key {k}: KEY VALUE CHANGED under the same id"
            for k in new_ids
            if k in old_ids and k in swapped
        ]
        if old_t != new_t:
            changes.insert(0, f"threshold {old_t} -> {new_t}")
        if changes:
            lines.append(f"  {name}: " + "; ".join(changes))
        else:
            lines.append(f"  {name}: unchanged ({new_t} of {len(new_ids)} keys)")
    if isinstance(old, Targets) and isinstance(new, Targets) and old.targets != new.targets:
        added = len(set(new.targets) - set(old.targets))
        removed = len(set(old.targets) - set(new.targets))
        lines.append(f"  targets: {added} added, {removed} removed, {len(new.targets)} in all")
    if (
        isinstance(old, Root)
        and isinstance(new, Root)
        and old.consistent_snapshot != new.consistent_snapshot
    ):
        lines.append(f"  consistent_snapshot -> {new.consistent_snapshot}")
    others = _diff_paths(_undescribed(old), _undescribed(new), "")
    if others:
        lines.append(f"  ! also changed: {', '.join(others)}")
    return lines + _key_lines(old, new)


def _key_label(keyid: str, keys: Mapping[str, Key]) -> str:
    key = keys.get(keyid)
    return f"{keyid} ({key.keytype})" if key is not None else f"{keyid} (NO KEY VALUE)"


# -- signing, merging, checking -----------------------------------------------------


def sign_proposal(proposal: Proposal, signer: Signer) -> None:
    """Add (or replace) ``signer``'s signature; other signatures stay."""
    proposal.metadata.sign(signer, append=True)


def merge_proposals(proposals: Sequence[tuple[str, Proposal]]) -> Proposal:
    """One proposal with the signatures of several signed copies of the same payload.

    ``proposals`` are (source, proposal) pairs; copies whose signed payload differs
    in any byte are refused, naming both files, since a signature over one payload
    means nothing for another.
    """
    if not proposals:
        raise CeremonyError("no proposal files given")
    first_source, first = proposals[0]
    merged = Proposal(first.role, Metadata.from_dict(copy.deepcopy(first.metadata.to_dict())))
    for source, other in proposals[1:]:
        if other.role != first.role or other.metadata.signed_bytes != first.metadata.signed_bytes:
            raise CeremonyError(
                f"{source} proposes a different {other.role} v{other.version} than "
                f"{first_source}: refusing to merge signatures over different payloads"
            )
        for keyid, signature in other.metadata.signatures.items():
            merged.metadata.signatures[keyid] = signature
    return merged


def _short(keyids: Iterable[str]) -> str:
    return ", ".join(sorted(keyids)) or "none"


def check_signatures(
    proposal: Proposal, delegator: Root | Targets, previous_root: Root | None = None
) -> None:
    """Raise ThresholdError unless ``proposal`` has enough valid signatures.

    First, CeremonyError if it names any key under an id that is not its own
    (:func:`check_key_ids`): signatures over a swapped key mean nothing.

    Root needs the threshold of the previous root's keys *and* of its own (the TUF
    rule a client applies while walking 1.root.json -> 2.root.json -> ...); targets
    and bins need their delegator's threshold (``delegator`` is the root or targets
    that will be current once the proposal is applied).
    """
    md = proposal.metadata
    check_key_ids(proposal.role, md.signed)
    payload = md.signed_bytes
    if proposal.role == "root":
        assert isinstance(md.signed, Root)
        result = md.signed.get_root_verification_result(previous_root, payload, md.signatures)
        old_version = previous_root.version if previous_root else md.signed.version
        checks = [
            (f"root v{old_version}", result.first),
            (f"root v{md.signed.version}", result.second),
        ]
    else:
        try:
            result = delegator.get_verification_result(proposal.role, payload, md.signatures)
        except ValueError as e:
            raise CeremonyError(f"{proposal.role}: {e}") from None
        owner = "root" if isinstance(delegator, Root) else "targets"
        checks = [(f"{owner} v{delegator.version}", result)]
    problems = [
        f"{proposal.role} v{md.signed.version} needs {r.threshold} signatures from the "
        f"keys of {who}, has {len(r.signed)}: missing {r.missing} from {_short(r.unsigned)}"
        for who, r in checks
        if not r.verified
    ]
    if problems:
        raise ThresholdError("; ".join(problems))
