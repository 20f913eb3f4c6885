"""Rotations applied to a real repository, with python-tuf's ngclient following along."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, SuccinctRoles

from tuf_pypi.keys import KeyFileError
from tuf_pypi.repository import load_view, verify_repository
from tuf_pypi.repository.ceremony import (
    CeremonyError,
    ThresholdError,
    prepare_bins,
    prepare_root,
    prepare_targets,
    sign_proposal,
)
from tuf_pypi.repository.rotation import apply_proposals
from tuf_pypi.testing.ngclient import updater_for

from .key_files import new_key, signer
from .rotations import YEAR, assert_client_gets_every_page, old_key_timestamp, rotate_online


def _client_root_version(cache: Path) -> int:
    return Metadata.from_file(str(cache / "root.json")).signed.version


def test_root_rotation_client_walks_every_version(make_repo, serve, tmp_path) -> None:
    signed = make_repo(bins=4)
    url = serve(signed.repo)
    early = tmp_path / "early-client"
    assert_client_gets_every_page(signed, url, early)
    keys = signed.keys_dir
    root1 = keys / "root-1.key"
    root2, pub2 = new_key(keys, "root-2")
    root3, pub3 = new_key(keys, "root-3")

    # v2: three root keys, threshold 2, new expiry.
    view = load_view(signed.storage)
    proposal = prepare_root(
        view.root, signed.clock(), timedelta(days=200), add_keys=[pub2, pub3], threshold=2
    )
    sign_proposal(proposal, signer(root2))
    with pytest.raises(ThresholdError, match=r"keys of root v1, has 0: missing 1 from"):
        apply_proposals(signed.publisher(), {"root": proposal})
    sign_proposal(proposal, signer(root1))
    report = apply_proposals(signed.publisher(), {"root": proposal})
    assert report.applied == {"root": 2} and report.timestamp_version is None
    assert_client_gets_every_page(signed, url, early)
    assert _client_root_version(early) == 2

    # v3: root-1 removed, still 2 of the remaining 2; needs 2 of v2's keys too.
    view = load_view(signed.storage)
    proposal = prepare_root(
        view.root, signed.clock(), YEAR, remove_keyids=[signer(root1).public_key.keyid]
    )
    sign_proposal(proposal, signer(root2))
    with pytest.raises(ThresholdError, match="missing 1"):
        apply_proposals(signed.publisher(), {"root": proposal})
    sign_proposal(proposal, signer(root3))
    apply_proposals(signed.publisher(), {"root": proposal})

    stale = apply_proposals  # a proposal for v3 cannot be applied twice
    with pytest.raises(CeremonyError, match="proposal is v3 but the repository has v3"):
        stale(signed.publisher(), {"root": proposal})

    # A client that only ever saw 1.root.json walks 1 -> 2 -> 3.
    fresh = tmp_path / "fresh-client"
    assert_client_gets_every_page(signed, url, fresh)
    assert _client_root_version(fresh) == 3
    assert (signed.repo / "tuf" / "root.json").read_bytes() == (
        signed.repo / "tuf" / "3.root.json"
    ).read_bytes()
    assert verify_repository(signed.storage, signed.clock()).ok


def test_online_key_rotation_client_accepts_new_and_refuses_old(make_repo, serve, tmp_path) -> None:
    signed = make_repo(bins=4)
    url = serve(signed.repo)
    cache = tmp_path / "client"
    assert_client_gets_every_page(signed, url, cache)
    old_online = signed.keys_dir / "online.key"
    new_path, new_online = new_key(tmp_path / "new-keys", "online", keytype="ecdsa", online=True)
    (signed.keys_dir / "online.key").rename(tmp_path / "old-online.key")
    new_path.rename(signed.keys_dir / "online-2.key")
    old_online = tmp_path / "old-online.key"

    rotate_online(signed, new_online)
    view = load_view(signed.storage)
    assert view.root.signed.roles["timestamp"].keyids == [new_online.keyid]
    assert view.bin(view.bin_names()[0]).signatures.keys() == {new_online.keyid}

    # publish and refresh work unchanged with the new key only.
    signed.page("demo-core").write_text(signed.page("demo-core").read_text() + "\n")
    assert signed.publisher().publish().wrote_metadata
    signed.clock.advance(days=3)
    assert signed.publisher().refresh(timedelta(days=1)).resigned
    assert verify_repository(signed.storage, signed.clock()).ok
    assert_client_gets_every_page(signed, url, cache)
    assert _client_root_version(cache) == 2

    old_key_timestamp(signed, old_online)
    with pytest.raises(UnsignedMetadataError):
        updater_for(url, signed.repo, cache).refresh()


def test_targets_and_bins_key_rotation(make_repo, serve, tmp_path) -> None:
    signed = make_repo(bins=4)
    url = serve(signed.repo)
    cache = tmp_path / "client"
    assert_client_gets_every_page(signed, url, cache)
    new_targets, targets_pub = new_key(signed.keys_dir, "targets-2")
    new_bins, bins_pub = new_key(signed.keys_dir, "bins-2")
    view = load_view(signed.storage)
    now = signed.clock()
    root = prepare_root(view.root, now, YEAR, targets_key=targets_pub)
    sign_proposal(root, signer(signed.keys_dir / "root-1.key"))
    with pytest.raises(CeremonyError, match="targets v1 is not signed by the targets key"):
        apply_proposals(signed.publisher(), {"root": root})

    targets = prepare_targets(view.targets, now, YEAR, bins_key=bins_pub)
    bins = prepare_bins(view.bins, now, YEAR)
    sign_proposal(targets, signer(signed.keys_dir / "targets.key"))  # the old key: not enough
    with pytest.raises(ThresholdError, match=f"missing 1 from {targets_pub.keyid}"):
        apply_proposals(signed.publisher(), {"root": root, "targets": targets, "bins": bins})
    targets.metadata.signatures.clear()
    sign_proposal(targets, signer(new_targets))
    sign_proposal(bins, signer(new_bins))
    report = apply_proposals(signed.publisher(), {"root": root, "targets": targets, "bins": bins})
    assert report.applied == {"targets": 2, "bins": 2, "root": 2} and report.bins_resigned == 0
    assert verify_repository(signed.storage, signed.clock()).ok
    assert_client_gets_every_page(signed, url, cache)


def test_a_bins_proposal_cannot_change_the_number_of_bins(make_repo) -> None:
    """That is rebin's work: every target moves, and retired bins must be emptied."""
    signed = make_repo(bins=4)
    view = load_view(signed.storage)
    bins = prepare_bins(view.bins, signed.clock(), YEAR)
    succinct = bins.metadata.signed.delegations.succinct_roles
    bins.metadata.signed.delegations.succinct_roles = SuccinctRoles(
        succinct.keyids, succinct.threshold, 3, succinct.name_prefix
    )
    sign_proposal(bins, signer(signed.keys_dir / "bins.key"))
    before = sorted(p.name for p in (signed.repo / "tuf").iterdir())
    with pytest.raises(CeremonyError, match="delegates to 8 bins but the repository has 4: "):
        apply_proposals(signed.publisher(), {"bins": bins})
    assert sorted(p.name for p in (signed.repo / "tuf").iterdir()) == before


def test_without_the_new_online_key_apply_writes_nothing(make_repo, tmp_path) -> None:
    """Every signer is opened first: a new root must not appear that no timestamp follows."""
    signed = make_repo(bins=4)
    _path, new_online = new_key(tmp_path / "not-in-keys-dir", "online", online=True)
    view = load_view(signed.storage)
    root = prepare_root(view.root, signed.clock(), YEAR, online_key=new_online)
    sign_proposal(root, signer(signed.keys_dir / "root-1.key"))
    before = sorted(p.name for p in (signed.repo / "tuf").iterdir())
    with pytest.raises(
        KeyFileError, match=f"no key for role 'snapshot' .keyid {new_online.keyid[:16]}"
    ):
        apply_proposals(signed.publisher(), {"root": root})
    assert sorted(p.name for p in (signed.repo / "tuf").iterdir()) == before
