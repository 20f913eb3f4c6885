"""Which keys may sign a ceremony proposal: asked at ``sign``, not first at ``apply``.

A signature by a key the role does not list is silently worthless: ``apply`` counts
0 of it, after every key holder has taken their turn. ``sign`` warns at once when
it can tell: a root proposal names its own keys (and the current root the old
ones, which must also sign); targets and bins are signed by keys the *delegating*
role lists, so those need the repository (``sign --repo``).
"""

from __future__ import annotations

from tuf.api.metadata import Metadata, Root

from .. import layout
from .view import RepositoryView

__all__ = ["expected_signers"]


def expected_signers(
    role: str, proposal: Metadata, current: Metadata | None, view: RepositoryView | None
) -> set[str] | None:
    """Key ids whose signatures count for ``proposal``; None when that cannot be known."""
    if role == "root":
        assert isinstance(proposal.signed, Root)
        keyids = set(proposal.signed.roles["root"].keyids)
        old = current.signed if current is not None else view.root.signed if view else None
        if isinstance(old, Root):
            keyids |= set(old.roles["root"].keyids)
        return keyids
    if view is None:
        return None
    if role == "targets":
        return set(view.root.signed.roles["targets"].keyids)
    if role == layout.BINS_ROLE:
        delegations = view.targets.signed.delegations
        if delegations is None or delegations.roles is None:
            return None
        delegated = delegations.roles.get(layout.BINS_ROLE)
        return set(delegated.keyids) if delegated is not None else None
    return None
