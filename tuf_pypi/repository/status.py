"""What a monitoring system needs to know: versions, keys, and how soon things expire."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .. import layout
from ..keys import KeyDirectory
from .view import RepositoryView

__all__ = ["RoleStatus", "StatusReport", "repository_status"]

#: Commands an admin runs when a role needs re-signing ({repo}, {keys}, {version}:
#: filled in), complete with the options they need to run as printed.
_ONLINE_FIX = "tuf-pypi refresh --repo {repo} --keys-dir {keys} (from cron, online key only)"
_OFFLINE_FIX = (
    "tuf-pypi {role} prepare --repo {repo} --expires 365d --out {role}-{version}.json; "
    "each key holder: tuf-pypi sign {role}-{version}.json --key KEYFILE --repo {repo}; "
    "then: tuf-pypi {role} apply --repo {repo} --keys-dir {keys} {role}-{version}.json "
    "(needs the offline keys of {role}; see docs/ceremony.md)"
)


def _fix(role: RoleStatus, repo: str, keys: str) -> str:
    if role.online:
        return _ONLINE_FIX.format(repo=repo, keys=keys)
    return _OFFLINE_FIX.format(role=role.role, repo=repo, keys=keys, version=role.version + 1)


@dataclass(frozen=True)
class RoleStatus:
    role: str
    version: int
    expires: datetime
    keyids: tuple[str, ...]
    threshold: int
    online: bool
    state: str  # "ok", "expiring" or "expired"
    #: Where each key's private half is, from one key directory ("file ...", "hsm",
    #: "not here"); empty when no key directory was given.
    locations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "role": self.role,
            "version": self.version,
            "expires": self.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "keyids": list(self.keyids),
            "threshold": self.threshold,
            "online": self.online,
            "state": self.state,
            "locations": dict(zip(self.keyids, self.locations, strict=True))
            if self.locations
            else None,
        }


@dataclass
class StatusReport:
    roles: list[RoleStatus] = field(default_factory=list)
    number_of_bins: int = 0
    targets: int = 0
    bins_with_targets: int = 0
    repo: str = "REPO"
    #: The key directory the printed commands name (the publishing host's).
    keys_dir: str = "KEYS_DIR"

    @property
    def worst(self) -> str:
        states = {r.state for r in self.roles}
        return "expired" if "expired" in states else "expiring" if "expiring" in states else "ok"

    def advice(self) -> list[str]:
        """One line per role that needs attention, with the exact commands to run."""
        return [
            f"{r.role} {r.state}: {_fix(r, self.repo, self.keys_dir)}"
            for r in self.roles
            if r.state != "ok"
        ]

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.worst,
            "roles": [r.to_dict() for r in self.roles],
            "bins": self.number_of_bins,
            "bins_with_targets": self.bins_with_targets,
            "targets": self.targets,
            "advice": self.advice(),
        }


def repository_status(
    view: RepositoryView,
    now: datetime,
    warn_online: timedelta,
    warn_offline: timedelta,
    keys: KeyDirectory | None = None,
) -> StatusReport:
    """Status of every role; bins are summarised as the one expiring first.

    With ``keys``, every key is located (file, HSM, or not on this machine), so an
    admin sees at a glance that offline keys are really off the publishing host.
    """
    root = view.root.signed
    report = StatusReport(number_of_bins=view.number_of_bins, repo=str(view.storage.root))

    def add(role: str, md, keyids, threshold, online: bool) -> None:
        expires = md.signed.expires
        window = warn_online if online else warn_offline
        state = "expired" if expires <= now else "expiring" if expires <= now + window else "ok"
        locations = tuple(keys.location_of(k) for k in keyids) if keys is not None else ()
        report.roles.append(
            RoleStatus(
                role, md.signed.version, expires, tuple(keyids), threshold, online, state, locations
            )
        )

    for role, md in (
        ("root", view.root),
        ("timestamp", view.timestamp),
        ("snapshot", view.snapshot),
        ("targets", view.targets),
    ):
        entry = root.roles[role]
        add(role, md, entry.keyids, entry.threshold, role in layout.ONLINE_ROLES)
    delegation = view.targets.signed.delegations.roles[layout.BINS_ROLE]  # type: ignore[union-attr,index]
    add(layout.BINS_ROLE, view.bins, delegation.keyids, delegation.threshold, False)
    succinct = view.succinct
    first = None
    for name in view.bin_names():
        md = view.bin(name)
        report.targets += len(md.signed.targets)
        report.bins_with_targets += bool(md.signed.targets)
        if first is None or md.signed.expires < first[1].signed.expires:
            first = (name, md)
    assert first is not None
    add(f"bin-n (first to expire: {first[0]})", first[1], succinct.keyids, succinct.threshold, True)
    return report
