"""One secret per kind of key: the online passphrase opens no offline key; offline KDF limits.

The publishing host knows the online key's passphrase (cron, a unit file). An
attacker who reads it there must not be able to open root, targets or bins.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import nacl.pwhash.argon2id as argon2id
import pytest
from click.testing import CliRunner
from securesystemslib.signer import CryptoSigner

from tuf_pypi.cli import main
from tuf_pypi.errors import SettingError
from tuf_pypi.keys import (
    OFFLINE_KDF,
    KeyDirectory,
    KeyFileError,
    OfflineSigners,
    generate_key_file,
    load_key_file_signer,
    read_public_key,
)
from tuf_pypi.repository import (
    Publisher,
    RepositoryStorage,
    init_repository,
    load_view,
    verify_repository,
)
from tuf_pypi.repository.publisher import utcnow
from tuf_pypi.sample import build_index
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE, TEST_KDF

OFFLINE_FILES = ("root-1.key", "targets.key", "bins.key")


def _kdf(path: Path) -> dict:
    return json.loads(path.read_text())["kdf"]


def _cli(args: list, env: dict[str, str]):
    """The CLI without a terminal, with exactly the secrets in ``env``."""
    clean = {"TUF_PYPI_PASSPHRASE": None, "TUF_PYPI_OFFLINE_PASSPHRASE": None, **env}
    return CliRunner().invoke(main, [str(a) for a in args], env=clean)


def test_the_online_passphrase_opens_no_offline_key(make_repo) -> None:
    signed = make_repo(bins=4, publish=False)
    load_key_file_signer(signed.keys_dir / "online.key", PASSPHRASE)
    for name in OFFLINE_FILES:
        with pytest.raises(KeyFileError, match="wrong passphrase"):
            load_key_file_signer(signed.keys_dir / name, PASSPHRASE)
        load_key_file_signer(signed.keys_dir / name, OFFLINE_PASSPHRASE)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_key_file_signer(signed.keys_dir / "online.key", OFFLINE_PASSPHRASE)


def test_init_refuses_one_passphrase_for_both(tmp_path) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    build_index(repo)
    with pytest.raises(KeyFileError, match="must differ"):
        init_repository(repo, keys, PASSPHRASE, offline_passphrase=PASSPHRASE,
                        offline_kdf=TEST_KDF, number_of_bins=4, now=utcnow())  # fmt: skip
    with pytest.raises(SettingError, match="offline passphrase or the offline keys"):
        init_repository(repo, keys, PASSPHRASE, number_of_bins=4, now=utcnow())
    secret = "one-secret-for-all-9f3e"
    same = {"TUF_PYPI_PASSPHRASE": secret, "TUF_PYPI_OFFLINE_PASSPHRASE": secret}
    result = _cli(["init", "--repo", repo, "--keys-dir", keys, "--bins", "4"], same)
    assert result.exit_code == 1 and "must differ" in result.output
    assert secret not in result.output
    assert not keys.exists() and not (repo / "tuf").exists()


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"TUF_PYPI_PASSPHRASE": PASSPHRASE}, "TUF_PYPI_OFFLINE_PASSPHRASE"),
        ({"TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}, "TUF_PYPI_PASSPHRASE"),
    ],
)
def test_init_without_a_terminal_names_the_missing_secret(tmp_path, given, missing) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    build_index(repo)
    result = _cli(["init", "--repo", repo, "--keys-dir", keys, "--bins", "4"], given)
    assert result.exit_code == 1, result.output
    assert f"set {missing} or run interactively" in result.output
    assert not (repo / "tuf").exists()


def test_sign_opens_the_holders_key_with_the_offline_secret_only(make_repo, tmp_path) -> None:
    signed = make_repo(bins=4, publish=False)
    proposal = tmp_path / "root-2.json"
    online_only = {"TUF_PYPI_PASSPHRASE": PASSPHRASE}
    both = {**online_only, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
    prepare = ["root", "prepare", "--repo", signed.repo, "--keys-dir", signed.keys_dir]
    assert _cli([*prepare, "--out", proposal], online_only).exit_code == 0
    sign = ["sign", proposal, "--key", signed.keys_dir / "root-1.key", "--repo", signed.repo]
    result = _cli([*sign, "--yes"], online_only)
    assert result.exit_code == 1 and "set TUF_PYPI_OFFLINE_PASSPHRASE" in result.output
    wrong = {**online_only, "TUF_PYPI_OFFLINE_PASSPHRASE": PASSPHRASE}
    assert "wrong passphrase" in _cli([*sign, "--yes"], wrong).output
    assert _cli([*sign, "--yes"], both).exit_code == 0


def test_init_with_key_files_the_holders_generated(tmp_path) -> None:
    """The better ceremony: init never creates, or learns the secret of, an offline key."""
    repo, keys, holders = tmp_path / "repo", tmp_path / "keys", tmp_path / "holders"
    build_index(repo)
    files = {name: holders / f"{name}.key" for name in ("alice", "bob", "tina", "bill")}
    public = {n: generate_key_file(f, OFFLINE_PASSPHRASE, limits=TEST_KDF)
              for n, f in files.items()}  # fmt: skip
    args = ["init", "--repo", repo, "--keys-dir", keys, "--bins", "4", "--root-threshold", "2",
            "--root-key", files["alice"], "--root-key", files["bob"],
            "--targets-key", files["tina"], "--bins-key", files["bill"]]  # fmt: skip
    env = {"TUF_PYPI_PASSPHRASE": PASSPHRASE, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
    result = _cli(args, {**env, "TUF_PYPI_PASSPHRASE": OFFLINE_PASSPHRASE})
    assert result.exit_code == 1 and "must differ" in result.output
    assert not keys.exists()
    result = _cli(args, env)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in keys.glob("*.key")) == ["online.key"]
    root = load_view(RepositoryStorage(repo)).root.signed
    assert root.roles["root"].keyids == [public["alice"].keyid, public["bob"].keyid]
    assert root.roles["root"].threshold == 2
    assert root.roles["targets"].keyids == [public["tina"].keyid]
    assert read_public_key(keys / "online.key").keyid in root.roles["timestamp"].keyids
    assert (
        all(f.is_file() for f in files.values()) and "holders take their key files" in result.output
    )
    Publisher(repo, KeyDirectory(keys, passphrase=lambda _: PASSPHRASE)).publish()
    assert verify_repository(RepositoryStorage(repo), utcnow()).ok


def test_holder_keys_must_come_together_and_be_distinct(tmp_path) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    build_index(repo)
    key = tmp_path / "k.key"
    generate_key_file(key, OFFLINE_PASSPHRASE, limits=TEST_KDF)
    env = {"TUF_PYPI_PASSPHRASE": PASSPHRASE, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
    base = ["init", "--repo", repo, "--keys-dir", keys, "--bins", "4"]
    result = _cli([*base, "--root-key", key], env)
    assert result.exit_code == 2 and "go together" in result.output
    result = _cli([*base, "--root-key", key, "--targets-key", key, "--bins-key", key], env)
    assert result.exit_code == 1 and "the same key" in result.output


def test_offline_key_files_default_to_sensitive_limits(tmp_path) -> None:
    """What 'key generate' writes by default: an offline key, sealed under the offline secret.

    Sensitive limits (1 GiB, 4 passes) cost ~6-9 s per key on this shared machine,
    which is why every other test passes TEST_KDF explicitly.
    """
    path = tmp_path / "root.key"
    result = _cli(["key", "generate", "--out", path], {"TUF_PYPI_OFFLINE_PASSPHRASE": "x" * 20})
    assert result.exit_code == 0, result.output
    kdf = _kdf(path)
    assert (kdf["opslimit"], kdf["memlimit"]) == (
        argon2id.OPSLIMIT_SENSITIVE,
        argon2id.MEMLIMIT_SENSITIVE,
    )
    assert kdf["limits"] == "sensitive"
    assert inspect.signature(generate_key_file).parameters["limits"].default == OFFLINE_KDF
    online = tmp_path / "online.key"
    result = _cli(["key", "generate", "--online", "--out", online], {})
    assert result.exit_code == 1 and "set TUF_PYPI_PASSPHRASE" in result.output
    assert (
        _cli(
            ["key", "generate", "--online", "--out", online], {"TUF_PYPI_PASSPHRASE": "y"}
        ).exit_code
        == 0
    )
    assert _kdf(online)["opslimit"] == argon2id.OPSLIMIT_INTERACTIVE


def test_init_records_the_chosen_limits_per_file(tmp_path) -> None:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    build_index(repo)
    env = {"TUF_PYPI_PASSPHRASE": PASSPHRASE, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
    args = ["init", "--repo", repo, "--keys-dir", keys, "--bins", "4", "--kdf-limits", "moderate"]
    assert _cli(args, env).exit_code == 0
    for name in OFFLINE_FILES:
        assert _kdf(keys / name)["opslimit"] == argon2id.OPSLIMIT_MODERATE
        assert _kdf(keys / name)["memlimit"] == argon2id.MEMLIMIT_MODERATE
    online = _kdf(keys / "online.key")
    assert (online["opslimit"], online["memlimit"]) == (
        argon2id.OPSLIMIT_INTERACTIVE,
        argon2id.MEMLIMIT_INTERACTIVE,
    )
    option = next(p for p in main.commands["init"].params if p.name == "kdf_limits")
    assert option.default == "sensitive"  # what an admin gets without the option


def test_a_command_that_needs_an_offline_key_asks_for_the_offline_secret(make_repo) -> None:
    """rebin signs bins with the offline bins key: the online secret is not enough."""
    signed = make_repo(bins=4)
    args = ["rebin", "--repo", signed.repo, "--keys-dir", signed.keys_dir, "--bins", "8"]
    result = _cli(args, {"TUF_PYPI_PASSPHRASE": PASSPHRASE})
    assert result.exit_code == 1 and "set TUF_PYPI_OFFLINE_PASSPHRASE" in result.output
    view = load_view(RepositoryStorage(signed.repo))
    bins_key = view.targets.signed.delegations.keys
    keys = KeyDirectory(signed.keys_dir, passphrase=lambda _: PASSPHRASE)
    with pytest.raises(KeyFileError, match="set TUF_PYPI_OFFLINE_PASSPHRASE"):
        keys.signer_for(next(iter(bins_key.values())), "bins")
    both = {"TUF_PYPI_PASSPHRASE": PASSPHRASE, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
    assert _cli(args, both).exit_code == 0


def test_one_key_cannot_hold_two_offline_roles() -> None:
    """Generated offline keys given twice (targets and bins): refused before any signing."""
    root = CryptoSigner.generate_ed25519()
    shared = CryptoSigner.generate_ed25519()
    signers = OfflineSigners(root=(root,), targets=shared, bins=shared)
    with pytest.raises(KeyFileError, match="the same key is given for two offline roles"):
        signers.by_label()
    with pytest.raises(KeyFileError, match="the same key"):
        OfflineSigners(root=(root,), targets=shared, bins=root).by_label()  # root as bins
    distinct = OfflineSigners((root,), shared, CryptoSigner.generate_ed25519())
    assert set(distinct.by_label()) == {"root-1", "targets", "bins"}
