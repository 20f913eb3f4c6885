"""Key-value swaps behind a kept key id: shown to the holder, refused by prepare, sign, apply.

The attacker is the ceremony's proposer. They keep every key id a role had and put
their own public key behind one of them (targets, the online key of snapshot and
timestamp, the online key of every bin-n, bins, a root key). A review that compares
ids would say "unchanged"; the holders sign; the attacker adds whatever signatures
their own key can make. Each case below carries out that attack end to end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import Metadata

from tuf_pypi import layout
from tuf_pypi.cli import main
from tuf_pypi.repository import load_view
from tuf_pypi.repository.ceremony import (
    CeremonyError,
    Proposal,
    describe_change,
    prepare_bins,
    prepare_root,
    prepare_targets,
    sign_proposal,
)
from tuf_pypi.repository.rotation import apply_proposals
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE

from .key_files import new_key, signer

YEAR = timedelta(days=365)


def _attacker_as(keyid: str, attacker: CryptoSigner) -> CryptoSigner:
    """The attacker's private key, presenting itself under someone else's key id."""
    public = attacker.public_key
    lying = SSlibKey(keyid, public.keytype, public.scheme, dict(public.keyval))
    return CryptoSigner(load_pem_private_key(attacker.private_bytes, None), lying)


def _swap(proposal: Proposal, keyid: str, value: SSlibKey) -> Proposal:
    """``proposal`` with the key listed under ``keyid`` replaced by ``value``, id kept."""
    document = json.loads(proposal.to_bytes())
    signed = document["metadata"]["signed"]
    keys = signed["keys"] if proposal.role == "root" else signed["delegations"]["keys"]
    assert keyid in keys
    keys[keyid] = value.to_dict()
    return Proposal.from_bytes(json.dumps(document).encode(), "swapped.json")


@dataclass
class Attack:
    """A swapped proposal, who of the holders signs it, and what the attacker adds."""

    target: Proposal  # the swapped proposal the holders review
    holder_keys: list[Path]  # holders fooled into signing it
    extra: dict[str, Proposal]  # proposals the attacker signs with their own key
    review_line: str  # the role line of the review that must show the change


def _online_id(view) -> str:
    return view.root.signed.roles["timestamp"].keyids[0]


def _targets_swap(signed, view, attacker) -> Attack:
    targets_id = view.root.signed.roles["targets"].keyids[0]
    root = _swap(prepare_root(view.root, signed.clock(), YEAR), targets_id, attacker.public_key)
    targets = prepare_targets(view.targets, signed.clock(), YEAR)
    sign_proposal(targets, _attacker_as(targets_id, attacker))
    return Attack(root, [signed.keys_dir / "root-1.key"], {"targets": targets}, "targets: ")


def _online_swap(signed, view, attacker) -> Attack:
    root = prepare_root(view.root, signed.clock(), YEAR)
    root = _swap(root, _online_id(view), attacker.public_key)
    return Attack(root, [signed.keys_dir / "root-1.key"], {}, "timestamp: ")


def _bin_n_swap(signed, view, attacker) -> Attack:
    bins = prepare_bins(view.bins, signed.clock(), YEAR)
    bins = _swap(bins, _online_id(view), attacker.public_key)
    return Attack(bins, [signed.keys_dir / "bins.key"], {}, "bin-n: ")


def _bins_swap(signed, view, attacker) -> Attack:
    bins_id = view.targets.signed.delegations.roles[layout.BINS_ROLE].keyids[0]
    targets = prepare_targets(view.targets, signed.clock(), YEAR)
    targets = _swap(targets, bins_id, attacker.public_key)
    bins = prepare_bins(view.bins, signed.clock(), YEAR)
    sign_proposal(bins, _attacker_as(bins_id, attacker))
    return Attack(targets, [signed.keys_dir / "targets.key"], {"bins": bins}, "bins: ")


def _root_swap(signed, view, attacker) -> Attack:
    """An honest second root key is added; the first root key's value is swapped.

    Old root v1 is satisfied by root-1's real signature, new root v2 (1 of 2) by the
    honest root-2: afterwards the attacker alone can sign root v3.
    """
    root1_id = view.root.signed.roles["root"].keyids[0]
    _, root2_public = new_key(signed.keys_dir, "root-2")
    root = prepare_root(view.root, signed.clock(), YEAR, add_keys=[root2_public])
    root = _swap(root, root1_id, attacker.public_key)
    holders = [signed.keys_dir / "root-1.key", signed.keys_dir / "root-2.key"]
    return Attack(root, holders, {}, "root: ")


ATTACKS: dict[str, Callable] = {
    "targets": _targets_swap,
    "snapshot-timestamp": _online_swap,
    "bin-n": _bin_n_swap,
    "bins": _bins_swap,
    "root": _root_swap,
}


@pytest.fixture(params=sorted(ATTACKS))
def attack(request, make_repo) -> tuple:
    signed = make_repo(bins=4)
    view = load_view(signed.storage)
    return signed, view, ATTACKS[request.param](signed, view, CryptoSigner.generate_ed25519())


def _current(view, role: str) -> Metadata:
    return {"root": view.root, "targets": view.targets, layout.BINS_ROLE: view.bins}[role]


def test_review_shows_the_swapped_key_value(attack) -> None:
    _signed, view, a = attack
    lines = describe_change(a.target.role, _current(view, a.target.role).signed, a.target.signed)
    text = "\n".join(lines)
    role_line = next(line for line in lines if line.strip().startswith(a.review_line))
    assert "KEY VALUE CHANGED" in role_line and "unchanged" not in role_line, text
    # Every key is listed by the fingerprint computed from its value...
    attacker_fingerprint = _computed(a)
    assert f"! {attacker_fingerprint} " in text and "NOT its fingerprint" in text
    # ...and the review names the exact bytes to be signed.
    assert "signed bytes sha256 " in text


def _computed(a: Attack) -> str:
    from tuf_pypi.keys import computed_keyid

    swapped = [
        key
        for keyid, key in _all_keys(a.target).items()
        if computed_keyid(key) != keyid  # the one whose id is not its own
    ]
    assert len(swapped) == 1
    return computed_keyid(swapped[0])


def _all_keys(proposal: Proposal) -> dict:
    signed = proposal.signed
    return dict(signed.keys) if proposal.role == "root" else dict(signed.delegations.keys)


def test_sign_shows_the_swap_and_refuses(attack, monkeypatch, tmp_path) -> None:
    signed, _view, a = attack
    monkeypatch.setenv("TUF_PYPI_OFFLINE_PASSPHRASE", OFFLINE_PASSPHRASE)
    monkeypatch.setenv("TUF_PYPI_PASSPHRASE", PASSPHRASE)
    file = tmp_path / "proposal.json"
    file.write_bytes(a.target.to_bytes())
    before = file.read_bytes()
    args = ["sign", str(file), "--key", str(a.holder_keys[0]), "--repo", str(signed.repo), "--yes"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "KEY VALUE CHANGED" in result.output
    assert "lists keys under ids that are not their own" in result.output
    assert file.read_bytes() == before  # no signature was added


def test_apply_refuses_the_swap_even_when_holders_signed(attack) -> None:
    signed, view, a = attack
    for holder in a.holder_keys:
        sign_proposal(a.target, signer(holder))
    proposals = {a.target.role: a.target, **a.extra}
    tuf_dir = signed.repo / layout.METADATA_DIR
    files_before = sorted(p.name for p in tuf_dir.iterdir())
    with pytest.raises(CeremonyError, match="not their own"):
        apply_proposals(signed.publisher(), proposals)
    assert sorted(p.name for p in tuf_dir.iterdir()) == files_before
    assert load_view(signed.storage).root.signed.version == view.root.signed.version


@pytest.mark.parametrize(
    ("group", "option", "victim"),
    [
        ("root", "--targets-key", "targets"),
        ("root", "--online-key", "timestamp"),
        ("root", "--add-key", "timestamp"),  # would put the attacker under the online id
        ("targets", "--bins-key", "bins"),
        ("bins", "--online-key", "timestamp"),
    ],
)
def test_prepare_refuses_a_key_file_whose_id_is_not_its_own(
    make_repo, tmp_path, monkeypatch, group, option, victim
) -> None:
    monkeypatch.setenv("TUF_PYPI_PASSPHRASE", PASSPHRASE)
    signed = make_repo(bins=4)
    view = load_view(signed.storage)
    if victim == "bins":
        keyid = view.targets.signed.delegations.roles[layout.BINS_ROLE].keyids[0]
    else:
        keyid = view.root.signed.roles[victim].keyids[0]
    attacker = CryptoSigner.generate_ed25519().public_key
    lying = tmp_path / "lying.pub"
    lying.write_text(json.dumps({"keyid": keyid, **attacker.to_dict()}))
    out = tmp_path / "proposal.json"
    args = [group, "prepare", "--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir)]
    result = CliRunner().invoke(main, [*args, option, str(lying), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"keyid {keyid} is not the id of the public key it holds" in result.output
    assert not out.exists()


def test_a_key_file_with_a_swapped_public_half_is_refused(make_repo, tmp_path) -> None:
    """The same lie inside a tuf-pypi key file's clear-text public part."""
    signed = make_repo(bins=4)
    file = signed.keys_dir / "targets.key"
    document = json.loads(file.read_text())
    document["public"].update(CryptoSigner.generate_ed25519().public_key.to_dict())
    file.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["key", "show", str(file)])
    assert result.exit_code == 1 and "is not the id of the public key it holds" in result.output
    view = load_view(signed.storage)
    args = ["root", "prepare", "--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir)]
    result = CliRunner().invoke(main, [*args, "--targets-key", str(file), "--out", "x.json"])
    assert result.exit_code == 1 and view.root.signed.roles["targets"].keyids[0] in result.output


def test_pure_prepare_refuses_a_key_object_whose_id_is_not_its_own(make_repo) -> None:
    signed = make_repo(bins=4)
    view = load_view(signed.storage)
    online_id = _online_id(view)
    attacker = CryptoSigner.generate_ed25519().public_key
    lying = SSlibKey(online_id, attacker.keytype, attacker.scheme, dict(attacker.keyval))
    with pytest.raises(CeremonyError, match=f"{online_id} \\(its key value's id is"):
        prepare_root(view.root, signed.clock(), YEAR, online_key=lying)
    with pytest.raises(CeremonyError, match="not their own"):
        prepare_bins(view.bins, signed.clock(), YEAR, online_key=lying)
