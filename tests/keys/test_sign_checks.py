"""``sign`` warns about a key whose signature will not count; prepare and sign speak JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("TUF_PYPI_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TUF_PYPI_OFFLINE_PASSPHRASE", OFFLINE_PASSPHRASE)

    def invoke(*args: object, code: int = 0):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_signing_with_a_key_the_role_does_not_list_warns(run, make_repo, tmp_path) -> None:
    signed = make_repo(bins=4)
    repo, keys = signed.repo, signed.keys_dir
    proposal = tmp_path / "targets-2.json"
    run("targets", "prepare", "--repo", repo, "--keys-dir", keys, "--out", proposal)
    wrong = run("sign", proposal, "--key", keys / "bins.key", "--repo", repo, "--yes")
    assert (
        "warning: key" in wrong.stderr and "is not one of the keys of role targets" in wrong.stderr
    )
    right = run("sign", proposal, "--key", keys / "targets.key", "--repo", repo, "--yes")
    assert "warning" not in right.stderr
    # root proposals name their own keys: no --repo needed to tell
    root_proposal = tmp_path / "root-2.json"
    run("root", "prepare", "--repo", repo, "--out", root_proposal, "--expires", "30d")
    wrong = run("sign", root_proposal, "--key", keys / "bins.key", "--yes")
    assert "is not one of the keys of role root" in wrong.stderr
    assert "warning" not in run("sign", root_proposal, "--key", keys / "root-1.key", "--yes").stderr


def test_prepare_and_sign_json(run, make_repo, tmp_path) -> None:
    signed = make_repo(bins=4)
    repo, keys = signed.repo, signed.keys_dir
    proposal = tmp_path / "bins-2.json"
    out = run("bins", "prepare", "--repo", repo, "--out", proposal, "--expires", "90d", "--json")
    prepared = json.loads(out.stdout)
    assert prepared["role"] == "bins" and prepared["version"] == 2
    assert prepared["next"].startswith(f"tuf-pypi sign {proposal.name} --key KEYFILE --repo ")
    result = run("sign", proposal, "--key", keys / "bins.key", "--repo", repo, "--yes", "--json")
    report = json.loads(result.stdout)
    assert report["signatures"] == 1 and report["warning"] is None and report["role"] == "bins"
    refused = run("sign", proposal, "--key", keys / "bins.key", "--json", code=2)
    assert "--json needs --yes" in refused.output
