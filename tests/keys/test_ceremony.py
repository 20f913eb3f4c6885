"""The pure ceremony core: prepare, describe, merge and threshold checks on values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from securesystemslib.signer import CryptoSigner

from tuf_pypi.repository import metadata as md_builder
from tuf_pypi.repository.ceremony import (
    CeremonyError,
    Proposal,
    ThresholdError,
    check_signatures,
    describe_change,
    merge_proposals,
    prepare_bins,
    prepare_root,
    prepare_targets,
    sign_proposal,
)

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _signers(n: int) -> list[CryptoSigner]:
    return [CryptoSigner.generate_ed25519() for _ in range(n)]


@pytest.fixture
def roles():
    root_signers = _signers(2)
    targets, bins, online = _signers(3)
    keys = md_builder.InitialKeys(
        root=tuple(s.public_key for s in root_signers),
        root_threshold=1,
        targets=targets.public_key,
        bins=bins.public_key,
        online=online.public_key,
    )
    roles = md_builder.initial_metadata(keys, 4, NOW)
    md_builder.sign(roles["root"], root_signers)
    return roles, root_signers, bins


def test_root_needs_old_and_new_thresholds_and_names_missing_keys(roles) -> None:
    roles, (r1, r2), _ = roles
    r3 = CryptoSigner.generate_ed25519()
    proposal = prepare_root(
        roles["root"], NOW, timedelta(days=365), add_keys=[r3.public_key], threshold=2
    )
    assert proposal.version == 2 and proposal.metadata.signatures == {}
    sign_proposal(proposal, r3)
    with pytest.raises(ThresholdError) as info:
        check_signatures(proposal, roles["root"].signed, roles["root"].signed)
    message = str(info.value)
    assert "needs 1 signatures from the keys of root v1, has 0" in message
    assert "needs 2 signatures from the keys of root v2, has 1: missing 1" in message
    assert r1.public_key.keyid in message and r2.public_key.keyid in message
    sign_proposal(proposal, r1)
    check_signatures(proposal, roles["root"].signed, roles["root"].signed)


def test_describe_change_shows_keys_thresholds_expiry_and_version(roles) -> None:
    roles, _, _ = roles
    online = CryptoSigner.generate_ecdsa().public_key
    proposal = prepare_root(roles["root"], NOW, timedelta(days=30), online_key=online, threshold=2)
    text = "\n".join(describe_change("root", roles["root"].signed, proposal.signed))
    assert "root v1 -> v2" in text
    assert "expires 2031-01-01 00:00:00Z -> 2030-01-31 00:00:00Z" in text
    assert "root: threshold 1 -> 2" in text
    assert f"snapshot: + key {online.keyid} (ecdsa)" in text and "- key" in text
    assert "targets: unchanged (1 of 1 keys)" in text


def test_merge_collects_signatures_and_refuses_different_payloads(roles) -> None:
    roles, (r1, r2), _ = roles
    a = prepare_root(roles["root"], NOW, timedelta(days=365), threshold=2)
    b = Proposal.from_bytes(a.to_bytes(), "b.json")
    sign_proposal(a, r1)
    sign_proposal(b, r2)
    merged = merge_proposals([("a.json", a), ("b.json", b)])
    assert set(merged.metadata.signatures) == {r1.public_key.keyid, r2.public_key.keyid}
    other = prepare_root(roles["root"], NOW, timedelta(days=364), threshold=2)
    with pytest.raises(CeremonyError, match=r"c\.json proposes a different root v2 than a\.json"):
        merge_proposals([("a.json", a), ("c.json", other)])


def test_invalid_changes_are_refused(roles) -> None:
    roles, _, _ = roles
    with pytest.raises(CeremonyError, match="threshold 3 must be between 1 and its 2 keys"):
        prepare_root(roles["root"], NOW, timedelta(days=1), threshold=3)
    with pytest.raises(CeremonyError, match="is not a root key"):
        prepare_root(roles["root"], NOW, timedelta(days=1), remove_keyids=["ab" * 32])
    with pytest.raises(CeremonyError, match="not a tuf-pypi proposal"):
        Proposal.from_bytes(b'{"x": 1}', "x.json")


def test_bins_online_key_rotation_is_signed_by_the_bins_key(roles) -> None:
    roles, _, bins_signer = roles
    new_online = CryptoSigner.generate_ed25519().public_key
    proposal = prepare_bins(roles["bins"], NOW, timedelta(days=365), online_key=new_online)
    succinct = proposal.signed.delegations.succinct_roles
    assert succinct.keyids == [new_online.keyid]
    assert set(proposal.signed.delegations.keys) == {new_online.keyid}
    with pytest.raises(ThresholdError, match="missing 1 from " + bins_signer.public_key.keyid):
        check_signatures(proposal, roles["targets"].signed)
    sign_proposal(proposal, bins_signer)
    check_signatures(proposal, roles["targets"].signed)


def test_review_flags_every_other_change_in_the_signed_bytes(roles) -> None:
    """Widening the bins delegation to every path keeps every key: still shown."""
    roles, _, _ = roles
    proposal = prepare_targets(roles["targets"], NOW, timedelta(days=365))
    bins_role = proposal.signed.delegations.roles["bins"]
    bins_role.paths = ["*"]
    bins_role.terminating = True
    text = "\n".join(describe_change("targets", roles["targets"].signed, proposal.signed))
    assert "bins: unchanged (1 of 1 keys)" in text
    assert "! also changed: delegations.roles[0].paths[0], delegations.roles[0].terminating" in text
    unchanged = prepare_targets(roles["targets"], NOW, timedelta(days=365))
    text = "\n".join(describe_change("targets", roles["targets"].signed, unchanged.signed))
    assert "also changed" not in text
