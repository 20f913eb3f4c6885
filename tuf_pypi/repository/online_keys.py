"""Does a key directory hold what the publish path signs with? Asked before any work.

A publish that lacked the online key used to scan the whole tree and fail only at
its first real change (or, with nothing changed, exit 0 and hide the problem until
the next upload). Checking the signed metadata's key ids against the key directory
costs a few file reads and opens no private key.
"""

from __future__ import annotations

from ..keys import KeyDirectory
from .view import RepositoryView

__all__ = ["missing_online_keys"]


def missing_online_keys(view: RepositoryView, keys: KeyDirectory) -> list[str]:
    """One line per online role (timestamp, snapshot, bin-n) short of its threshold.

    A key counts as present when ``keys`` has its key file or a signer URI for it;
    whether the passphrase or PIN is right is only known when it is opened.
    """
    root = view.root.signed
    succinct = view.succinct
    roles = [
        ("timestamp", root.roles["timestamp"].keyids, root.roles["timestamp"].threshold),
        ("snapshot", root.roles["snapshot"].keyids, root.roles["snapshot"].threshold),
        ("every bin-n", succinct.keyids, succinct.threshold),
    ]
    missing = []
    for role, keyids, threshold in roles:
        present = [k for k in keyids if keys.location_of(k) != "not here"]
        if len(present) < threshold:
            absent = ", ".join(f"{k[:16]}..." for k in keyids if k not in present)
            missing.append(f"role {role} (keyid {absent}; threshold {threshold})")
    return missing
