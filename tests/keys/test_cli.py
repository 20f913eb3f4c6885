"""The documented command sequences, run through the CLI: key, prepare, sign, apply, recover."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.repository import load_view, verify_repository
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE

from .key_files import new_key
from .rotations import assert_client_gets_every_page, old_key_timestamp


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("TUF_PYPI_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TUF_PYPI_OFFLINE_PASSPHRASE", OFFLINE_PASSPHRASE)

    def invoke(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_key_generate_show_list(run, tmp_path) -> None:
    out = run("key", "generate", "--online", "--out", tmp_path / "k" / "a.key", "--type", "ecdsa")
    assert "ecdsa key" in out and PASSPHRASE not in out
    shown = json.loads(run("key", "show", tmp_path / "k" / "a.key", "--json"))
    assert shown["scheme"] == "ecdsa-sha2-nistp256" and "private" not in json.dumps(shown)
    listed = json.loads(run("key", "list", "--keys-dir", tmp_path / "k", "--json"))
    assert [k["keyid"] for k in listed] == [shown["keyid"]]


def test_compromise_recovery_sequence(run, make_repo, serve, tmp_path) -> None:
    """docs/ceremony.md, "Compromise recovery", step by step."""
    signed = make_repo(bins=4)
    repo, keys = signed.repo, signed.keys_dir
    url = serve(repo)
    cache = tmp_path / "client"
    assert_client_gets_every_page(signed, url, cache)
    known_good = load_view(signed.storage).snapshot.signed.version
    good_page = signed.page("demo-core").read_bytes()

    # The attacker, holding the online key, signs a malicious page.
    signed.page("demo-core").write_bytes(good_page.replace(b"demo_core-1.0", b"demo_core-6.6"))
    signed.publisher().publish()
    (keys / "online.key").rename(tmp_path / "compromised-online.key")

    # 1. New online key; 2. root and bins proposals; 3. key holders sign; 4. apply; 5. recover.
    run("key", "generate", "--online", "--out", keys / "online-2.key")
    run("root", "prepare", "--repo", repo, "--keys-dir", keys, "--online-key",
        keys / "online-2.key", "--out", tmp_path / "root-2.json")  # fmt: skip
    run("bins", "prepare", "--repo", repo, "--keys-dir", keys, "--online-key",
        keys / "online-2.key", "--out", tmp_path / "bins-2.json")  # fmt: skip
    error = run("root", "apply", "--repo", repo, "--keys-dir", keys,
                tmp_path / "root-2.json", tmp_path / "bins-2.json", code=1)  # fmt: skip
    assert "missing 1 from" in error and error.count("\n") == 1
    shown = run("sign", tmp_path / "root-2.json", "--key", keys / "root-1.key", "--repo", repo,
                "--yes")  # fmt: skip
    assert "root v1 -> v2" in shown and "snapshot: + key" in shown and "- key" in shown
    run("sign", tmp_path / "bins-2.json", "--key", keys / "bins.key", "--repo", repo, "--yes")
    out = run("root", "apply", "--repo", repo, "--keys-dir", keys,
              tmp_path / "root-2.json", tmp_path / "bins-2.json")  # fmt: skip
    assert "applied root v2" in out and "re-signed 4 bins" in out
    # What was applied is, byte for byte, what the holder reviewed and signed.
    reviewed = re.search(r"signed bytes sha256 ([0-9a-f]{64})", shown)
    assert reviewed and f"applied root v2 (signed bytes sha256 {reviewed.group(1)})" in out
    signed.page("demo-core").write_bytes(good_page)  # restore simple/ from backup
    out = run("recover", "--repo", repo, "--keys-dir", keys, "--known-good-snapshot", known_good)
    assert "1 targets put back" in out

    assert verify_repository(signed.storage, signed.clock()).ok
    assert_client_gets_every_page(signed, url, cache)  # the good page again
    status = json.loads(run("status", "--repo", repo, "--json", code=0))
    assert status["status"] == "ok"

    add_release(repo, SampleDist("demo-app", "3.0"))
    run("publish", "--repo", repo, "--keys-dir", keys)
    assert_client_gets_every_page(signed, url, cache)
    old_key_timestamp(signed, tmp_path / "compromised-online.key")
    from tuf.api.exceptions import UnsignedMetadataError

    from tuf_pypi.testing.ngclient import updater_for

    with pytest.raises(UnsignedMetadataError):
        updater_for(url, repo, cache).refresh()


def test_sign_refuses_without_confirmation_and_apply_refuses_mixed_payloads(
    run, make_repo, tmp_path
) -> None:
    signed = make_repo(bins=4)
    repo, keys = signed.repo, signed.keys_dir
    _, _pub = new_key(tmp_path, "root-2")
    run("root", "prepare", "--repo", repo, "--add-key", tmp_path / "root-2.key",
        "--expires", "100d", "--out", tmp_path / "a.json")  # fmt: skip
    run("root", "prepare", "--repo", repo, "--expires", "99d", "--out", tmp_path / "b.json")
    result = CliRunner().invoke(
        main,
        ["sign", str(tmp_path / "a.json"), "--key", str(keys / "root-1.key"),
         "--current", str(repo / "tuf" / "root.json")],
        input="n\n",
    )  # fmt: skip
    assert result.exit_code == 1 and "root v1 -> v2" in result.output and "+ key" in result.output
    assert json.loads((tmp_path / "a.json").read_text())["metadata"]["signatures"] == []
    out = run("root", "apply", "--repo", repo, "--keys-dir", keys,
              tmp_path / "a.json", tmp_path / "b.json", code=1)  # fmt: skip
    assert "refusing to merge signatures over different payloads" in out
