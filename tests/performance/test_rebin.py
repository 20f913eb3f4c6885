"""``rebin``: clients (ngclient and tuf_pypi's Client) follow a live change of bin count."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tuf.api.metadata import Metadata

from tuf_pypi.cli import main
from tuf_pypi.client import Client
from tuf_pypi.errors import SettingError
from tuf_pypi.keys import KeyFileError
from tuf_pypi.repository import RepositoryStorage, load_view, verify_repository
from tuf_pypi.repository.changeset import next_versions
from tuf_pypi.repository.rebin import rebin, rebin_targets
from tuf_pypi.repository.storage import TEMP_PREFIX
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing import serve_directory
from tuf_pypi.testing.crash import Crash, CrashingStorage
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE
from tuf_pypi.testing.signed_repo import SignedRepo, targets_of

from .disk_client import client_sees_everything


def _versions(repo: Path) -> dict[str, int]:
    view = load_view(RepositoryStorage(repo))
    return {name[: -len(".json")]: m.version for name, m in view.snapshot.signed.meta.items()}


@pytest.mark.parametrize(("before", "after"), [(16, 64), (64, 16), (32, 64), (64, 32)])
def test_ngclient_follows_a_rebin(make_repo, tmp_path, before: int, after: int) -> None:
    signed = make_repo(bins=before)
    cache = tmp_path / "client"
    client_sees_everything(signed.repo, cache)
    old = _versions(signed.repo)
    publisher = signed.publisher()

    report = rebin(publisher, after)

    assert (report.old_bins, report.new_bins, report.bins_signed) == (before, after, after)
    view = load_view(signed.storage)
    assert view.number_of_bins == after
    assert view.bins.signed.version == old["bins"] + 1
    new = _versions(signed.repo)
    # No role disappears and none goes back: what TUF clients require of a snapshot.
    assert all(new[name] > version for name, version in old.items() if name.startswith("bin-"))
    assert set(new) == set(old) | set(view.bin_names())
    assert sum(len(view.bin(n).signed.targets) for n in view.bin_names()) == len(
        targets_of(signed.repo)
    )
    result = verify_repository(signed.storage, signed.clock())
    assert result.ok and not result.pending, result.problems
    client_sees_everything(signed.repo, cache)  # warm: same cache as before
    client_sees_everything(signed.repo, tmp_path / "cold")

    # The same long-lived publisher goes on publishing into the new bins.
    add_release(signed.repo, SampleDist("demo-lib", "9.0"))
    assert publisher.publish(["demo-lib"]).changed
    client_sees_everything(signed.repo, cache)
    assert verify_repository(signed.storage, signed.clock()).ok


def test_names_that_come_back_get_higher_versions(make_repo, tmp_path) -> None:
    signed = make_repo(bins=64)
    cache = tmp_path / "client"
    publisher = signed.publisher()
    seen = _versions(signed.repo)
    for count in (16, 64, 32, 64, 16):
        rebin(publisher, count)
        client_sees_everything(signed.repo, cache)
        now = _versions(signed.repo)
        assert all(now[name] >= version for name, version in seen.items())
        seen = now
    assert verify_repository(signed.storage, signed.clock()).ok


def test_versions_above_files_the_snapshot_no_longer_names(make_repo) -> None:
    signed = make_repo(bins=16)
    stray = signed.repo / "tuf" / "40.bin-00.json"  # e.g. left by an older tool
    stray.write_bytes(b"{}")
    rebin(signed.publisher(), 256)
    assert _versions(signed.repo)["bin-00"] == 41


def test_pure_helpers() -> None:
    assert next_versions(["bin-0", "bin-1"], {"bin-0": 3}, {"bin-0": 5, "bin-2": 9}) == {
        "bin-0": 6,
        "bin-1": 1,
    }
    target = {"hashes": {"sha256": "0" * 64}, "length": 1}
    moved = rebin_targets([{"simple/a/index.html": target}, {"simple/b/index.html": target}], 4)
    assert sorted(moved) == ["bin-0", "bin-1", "bin-2", "bin-3"]
    assert sum(len(t) for t in moved.values()) == 2


def test_needs_the_bins_key_and_writes_nothing_without_it(make_repo) -> None:
    signed = make_repo(bins=16)
    (signed.keys_dir / "bins.key").rename(signed.keys_dir.parent / "bins.key")
    before = sorted(p.name for p in (signed.repo / "tuf").iterdir())
    with pytest.raises(KeyFileError, match="bins key"):
        rebin(signed.publisher(), 32)
    assert sorted(p.name for p in (signed.repo / "tuf").iterdir()) == before
    with pytest.raises(SettingError, match="already has 16 bins"):
        rebin(signed.publisher(), 16)


def test_a_crash_leaves_the_old_repository_and_a_rerun_finishes(make_repo, tmp_path) -> None:
    base = make_repo(bins=16)
    template = tmp_path / "template"
    shutil.copytree(base.repo, template)
    # 32 new bins + 16 retired ones, then N.bins.json, the snapshot, the timestamp.
    for crash_at in (0, 20, 47, 48, 49, 50):
        repo = tmp_path / f"crash-{crash_at}"
        shutil.copytree(template, repo)
        signed = SignedRepo(repo, base.keys_dir, base.clock)
        with pytest.raises(Crash):
            rebin(signed.publisher(storage=CrashingStorage(repo, crash_at)), 32)
        assert load_view(signed.storage).number_of_bins == 16, crash_at
        assert verify_repository(signed.storage, signed.clock()).ok, crash_at
        client_sees_everything(repo, tmp_path / f"client-{crash_at}")
        rebin(signed.publisher(), 32)
        assert verify_repository(signed.storage, signed.clock()).ok, crash_at
        assert not list(repo.rglob(f"{TEMP_PREFIX}*"))
        client_sees_everything(repo, tmp_path / f"client-{crash_at}")


@pytest.fixture
def http_mirror(make_repo) -> Iterator[tuple[SignedRepo, str]]:
    signed = make_repo(bins=16)
    server, url = serve_directory(signed.repo)
    yield signed, f"{url}/"
    server.shutdown()
    server.server_close()


def test_tuf_pypi_client_follows_a_rebin(http_mirror, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    signed, url = http_mirror
    root = (signed.repo / "tuf" / "1.root.json").read_bytes()
    cache = tmp_path / "client"
    projects = sorted(d.name for d in (signed.repo / "simple").iterdir() if d.is_dir())
    with Client([url], root, cache) as client:
        before = {p: client.page(p).data for p in projects}
    rebin(signed.publisher(), 64)
    add_release(signed.repo, SampleDist("demo-lib", "9.0"))
    signed.publisher().publish(["demo-lib"])
    with Client([url], root, cache) as client:  # warm cache, new bins
        after = {p: client.page(p).data for p in projects}
    assert {p: f for p, f in after.items() if p != "demo-lib"} == {
        p: f for p, f in before.items() if p != "demo-lib"
    }
    assert after["demo-lib"] != before["demo-lib"]


def test_cli_rebin_json(make_repo, monkeypatch) -> None:
    signed = make_repo(bins=16)
    monkeypatch.setenv("TUF_PYPI_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TUF_PYPI_OFFLINE_PASSPHRASE", OFFLINE_PASSPHRASE)
    args = ["rebin", "--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir)]
    result = CliRunner().invoke(main, [*args, "--bins", "128", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["old_bins"], report["new_bins"], report["retired"]) == (16, 128, 16)
    result = CliRunner().invoke(main, [*args, "--bins", "100"])
    assert result.exit_code == 1 and "power of two" in result.output
    bins_file = signed.repo / "tuf" / f"{report['bins_version']}.bins.json"
    assert Metadata.from_bytes(bins_file.read_bytes()).signed.delegations.succinct_roles
