"""gc deletes what no client can still need, and nothing a client may still ask for."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from tuf.api.exceptions import DownloadError

from tuf_pypi import layout
from tuf_pypi.cli import main
from tuf_pypi.repository import LockBusyError, load_view, verify_repository
from tuf_pypi.repository import gc as gc_module
from tuf_pypi.repository.gc import GcReport, collect_garbage, live_snapshots, select_garbage
from tuf_pypi.repository.storage import publisher_lock
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.signed_repo import SignedRepo

from .helpers import ReplayTimestamp, age, age_tree, fetch_page, ngclient

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def _gc(signed: SignedRepo, **kwargs) -> GcReport:
    kwargs.setdefault("now", signed.clock())
    return collect_garbage(signed.storage, signed.keys_dir / "publish.lock", **kwargs)


def _tuf_files(signed: SignedRepo) -> set[str]:
    return {p.name for p in (signed.repo / "tuf").iterdir()}


def _needed_by_current(signed: SignedRepo) -> set[str]:
    view = load_view(signed.storage)
    needed = {"root.json", "timestamp.json"}
    needed |= {layout.metadata_filename("root", v) for v in signed.storage.root_versions()}
    needed.add(layout.metadata_filename("snapshot", view.snapshot.signed.version))
    for name, meta in view.snapshot.signed.meta.items():
        needed.add(layout.metadata_filename(layout.role_of_metadata_filename(name), meta.version))
    return needed


def _republish(signed: SignedRepo, *releases: str) -> None:
    for version in releases:
        add_release(signed.repo, SampleDist("demo-app", version))
        signed.publisher().publish()


# -- the pure rule ------------------------------------------------------------------


def test_a_snapshot_stays_live_until_its_successor_is_older_than_grace() -> None:
    mtimes = {1: T0, 2: T0 + DAY, 3: T0 + 3 * DAY, 4: T0 + 4 * DAY, 9: T0}
    cutoff = T0 + 2 * DAY
    # 1 was superseded by 2 before the cutoff; 2 by 3 after it; 9 was never published.
    assert live_snapshots(mtimes, current=4, cutoff=cutoff) == [2, 3, 4]
    assert live_snapshots(mtimes, current=4, cutoff=T0 + 10 * DAY) == [4]
    # Gaps (a mirror that skipped versions): the next snapshot present supersedes.
    assert live_snapshots({1: T0, 5: T0 + 3 * DAY}, current=5, cutoff=cutoff) == [1, 5]
    assert live_snapshots({}, current=7, cutoff=cutoff) == [7]


def test_garbage_is_unreferenced_and_older_than_the_cutoff() -> None:
    candidates = {
        "1.bin-0.json": T0,
        "1.bin-0.json.gz": T0,
        "2.bin-0.json": T0,
        "2.bin-0.json.gz": T0,
        "3.bin-0.json": T0 + 3 * DAY,
    }
    assert select_garbage(candidates, {"2.bin-0.json"}, T0 + DAY) == [
        "1.bin-0.json",
        "1.bin-0.json.gz",
    ]


# -- a repository ---------------------------------------------------------------------


def test_client_holding_an_old_timestamp_completes_within_grace(make_repo, serve, tmp_path) -> None:
    signed = make_repo()
    url = serve(signed.repo)
    trusted_root = (signed.repo / "tuf/1.root.json").read_bytes()
    old_timestamp = (signed.repo / "tuf/timestamp.json").read_bytes()
    old_page = signed.page("demo-app").read_bytes()
    _republish(signed, "2.0")
    before = _tuf_files(signed)

    report = _gc(signed)  # the new snapshot appeared just now: the old one is live
    assert report.deleted_metadata == report.deleted_pages == []
    assert _tuf_files(signed) == before
    stale = ngclient(url, trusted_root, tmp_path / "stale", ReplayTimestamp(old_timestamp))
    assert fetch_page(stale, "simple/demo-app/index.html", tmp_path / "p1") == old_page

    signed.clock.advance(days=2)
    report = _gc(signed)
    assert report.deleted_pages and report.deleted_metadata
    assert all(p.startswith("simple/demo-app/") for p in report.deleted_pages)
    assert _tuf_files(signed) == _needed_by_current(signed)
    assert report.live_snapshots == [load_view(signed.storage).snapshot.signed.version]

    stale = ngclient(url, trusted_root, tmp_path / "stale2", ReplayTimestamp(old_timestamp))
    with pytest.raises(DownloadError):
        fetch_page(stale, "simple/demo-app/index.html", tmp_path / "p2")
    fresh = ngclient(url, trusted_root, tmp_path / "fresh")
    page = fetch_page(fresh, "simple/demo-app/index.html", tmp_path / "p3")
    assert page == signed.page("demo-app").read_bytes()
    verified = verify_repository(signed.storage, signed.clock() - 2 * DAY)
    assert verified.ok, verified.problems
    assert not verified.pending


def test_gc_never_deletes_roots_timestamp_live_pages_or_packages(make_repo) -> None:
    signed = make_repo()
    _republish(signed, "2.0", "3.0")
    keep = [
        *(signed.repo / "tuf").glob("*.root.json"),
        signed.repo / "tuf/root.json",
        signed.repo / "tuf/timestamp.json",
        *(signed.repo / "simple").glob("*/index.*"),
        signed.repo / "simple/index.html",
        *(p for p in (signed.repo / "packages").rglob("*") if p.is_file()),
    ]
    age_tree(signed.repo, 30 * DAY.total_seconds())
    report = _gc(signed, grace=timedelta(0))
    assert report.deleted_metadata
    assert all(p.exists() for p in keep)
    assert _tuf_files(signed) == _needed_by_current(signed)
    assert verify_repository(signed.storage, signed.clock()).ok


def test_crash_debris_goes_only_once_older_than_grace(make_repo) -> None:
    signed = make_repo()
    tuf = signed.repo / "tuf"
    current = load_view(signed.storage).snapshot.signed.version
    debris = [
        tuf / f"{current + 1}.snapshot.json",
        tuf / "99.bin-0.json",
        tuf / "99.bin-0.json.gz",
        signed.repo / "simple/demo-app" / layout.consistent_name("index.html", "0" * 64),
    ]
    for path in debris:
        path.write_bytes(b"half a publish")
    assert _gc(signed).deleted_metadata == []
    assert all(p.exists() for p in debris)

    age(debris, 2 * DAY.total_seconds())
    report = _gc(signed)
    assert not any(p.exists() for p in debris)
    assert sorted(report.deleted_metadata) == sorted(p.name for p in debris[:3])
    assert report.deleted_pages == [debris[3].relative_to(signed.repo).as_posix()]
    assert verify_repository(signed.storage, signed.clock()).ok


def test_gz_siblings_go_with_their_file(make_repo) -> None:
    signed = make_repo()
    tuf = signed.repo / "tuf"
    old_snapshot = tuf / f"{load_view(signed.storage).snapshot.signed.version}.snapshot.json"
    shutil.copy(old_snapshot, old_snapshot.with_name(old_snapshot.name + ".gz"))
    _republish(signed, "2.0")
    age_tree(signed.repo, 2 * DAY.total_seconds())
    report = _gc(signed)
    assert {old_snapshot.name, old_snapshot.name + ".gz"} <= set(report.deleted_metadata)
    assert not old_snapshot.with_name(old_snapshot.name + ".gz").exists()


def test_only_old_bins_that_differ_from_current_are_loaded(make_repo, monkeypatch) -> None:
    signed = make_repo(bins=16)
    view = load_view(signed.storage)
    changed = (
        view.bin_of("simple/demo-app/index.html"),
        view.bin_of("simple/demo-app/index.v1_json"),
    )
    old_versions = {name: view.version_of(name) for name in changed}
    _republish(signed, "2.0")
    loaded: list[str] = []
    real_load = gc_module._load

    def counting_load(storage, filename, expected):
        loaded.append(filename)
        return real_load(storage, filename, expected)

    monkeypatch.setattr(gc_module, "_load", counting_load)
    # Every file is a candidate, but the new snapshot appeared just now: the old one is live.
    age_tree(signed.repo, 7200)
    current = load_view(signed.storage).snapshot.signed.version
    (signed.repo / "tuf" / f"{current}.snapshot.json").touch()
    report = _gc(signed, grace=timedelta(hours=1))
    assert report.deleted_pages == []  # snapshot 2 is live and names them
    assert all(name.startswith("1.") for name in report.deleted_metadata)  # init's, long gone
    old_bins = {name for name in loaded if "bin-" in name}
    assert old_bins == {layout.metadata_filename(n, v) for n, v in old_versions.items()}


def test_gc_waits_for_the_publisher_lock(make_repo) -> None:
    signed = make_repo()
    with publisher_lock(signed.keys_dir / "publish.lock"), pytest.raises(LockBusyError):
        _gc(signed, wait_for_lock=False)


def test_gc_command(make_repo) -> None:
    signed = make_repo()
    _republish(signed, "2.0")
    args = ["gc", "--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir)]
    runner = CliRunner()
    dry = runner.invoke(main, [*args, "--grace", "0s", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete tuf/2.snapshot.json" in dry.output
    assert (signed.repo / "tuf/2.snapshot.json").exists()

    result = runner.invoke(main, [*args, "--grace", "0s", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "2.snapshot.json" in report["deleted_metadata"]
    assert report["bytes_freed"] > 0
    assert not (signed.repo / "tuf/2.snapshot.json").exists()

    bad = runner.invoke(main, [*args, "--grace", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output
    inside = runner.invoke(main, [*args[:3], "--state-dir", str(signed.repo / "state")])
    assert inside.exit_code == 1 and "inside --repo" in inside.output


def test_gc_on_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["gc", "--repo", str(tmp_path), "--state-dir", str(tmp_path.parent / "s")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "has no simple/ directory" in result.output
