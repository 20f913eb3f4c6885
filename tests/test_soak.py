"""The soak test (scripts/soak) for 60 seconds, and attacks on each of its safety checks.

The soak run is marked ``soak`` (``-m "not soak"`` deselects it). It asserts only the
run's exit status, which says whether every safety check held; the figures depend on
the machine's load and are printed, never asserted. The checks themselves are pure
functions: each is shown here to catch the failure it exists for.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.soak import checks
from tests.soak.schedule import KINDS, fault_schedule

ROOT = Path(__file__).resolve().parents[1]


def _needs(program: str, found: bool) -> None:
    if not found:
        message = f"the soak test needs {program} (scripts/install-system-deps installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.soak
def test_soak_60_seconds() -> None:
    _needs("nginx", bool(shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")))
    _needs("faketime", bool(shutil.which("faketime")))
    _needs("PostgreSQL", bool(list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))))
    seed = random.SystemRandom().randrange(1 << 31)
    result = subprocess.run(
        [str(ROOT / "scripts" / "soak"), "--duration", "60", "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=1500,  # setup, 60 s of load, draining and checks on a loaded 2-core machine
        env={**os.environ, "PYTHON": os.environ.get("PYTHON", __import__("sys").executable)},
    )
    print(result.stdout)  # the table, shown with -s or on failure
    assert result.returncode == 0, (
        f"soak failed; replay with scripts/soak --duration 60 --seed {seed}\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
    )
    assert "PASS  no write after losing leadership" in result.stdout


def test_schedule_is_replayable_and_covers_every_fault() -> None:
    first = fault_schedule(7, 10, 50)
    assert first == fault_schedule(7, 10, 50)
    assert first != fault_schedule(8, 10, 50)
    assert {f.kind for f in first} == set(KINDS)
    assert all(10 <= f.at <= 50 for f in first)
    assert [f.at for f in first] == sorted(f.at for f in first)
    assert len(fault_schedule(7, 20, 570)) == 3 * len(KINDS)  # a 10-minute run repeats them


def _log(publisher: str, *lines: str) -> list[checks.LogEvent]:
    return checks.parse_publisher_log(publisher, "\n".join(lines))


ACTIVE = "INFO active: publishing the queue at postgresql://tuf@127.0.0.1/postgres"


def _wrote(version: int) -> str:
    return f"INFO published 3 updates of 2 projects: timestamp v{version} in 0.10 s"


def test_leadership_check_passes_a_clean_handover() -> None:
    events = _log("p1", f"2026-01-01 10:00:00,000 {ACTIVE}", f"2026-01-01 10:00:01,000 {_wrote(2)}")
    events += _log(
        "p2", f"2026-01-01 10:00:03,000 {ACTIVE}", f"2026-01-01 10:00:04,000 {_wrote(3)}"
    )
    killed = {"p1": _log("x", f"2026-01-01 10:00:02,000 {ACTIVE}")[0].t}
    assert checks.check_leadership(events, killed).ok


def test_leadership_check_catches_a_write_after_the_lock_moved() -> None:
    events = _log("p1", f"2026-01-01 10:00:00,000 {ACTIVE}", f"2026-01-01 10:00:05,000 {_wrote(4)}")
    events += _log(
        "p2", f"2026-01-01 10:00:03,000 {ACTIVE}", f"2026-01-01 10:00:04,000 {_wrote(3)}"
    )
    result = checks.check_leadership(events, {})
    assert not result.ok and "p1 wrote while p2 held the lock" in result.detail


def test_leadership_check_catches_one_version_written_twice() -> None:
    events = _log("p1", f"2026-01-01 10:00:00,000 {ACTIVE}", f"2026-01-01 10:00:01,000 {_wrote(3)}")
    events += _log(
        "p2", f"2026-01-01 10:00:03,000 {ACTIVE}", f"2026-01-01 10:00:04,000 {_wrote(3)}"
    )
    assert "written by p1 and p2" in checks.check_leadership(events, {}).detail


def test_leadership_check_ignores_batches_that_wrote_nothing() -> None:
    idle = "INFO published 1 updates of 1 projects: already signed (timestamp v3) in 0.01 s"
    events = _log("p1", f"2026-01-01 10:00:00,000 {ACTIVE}", f"2026-01-01 10:00:01,000 {_wrote(3)}")
    events += _log("p2", f"2026-01-01 10:00:02,000 {idle}")
    assert checks.check_leadership(events, {}).ok


def test_timestamp_check_catches_rollback_and_split_brain() -> None:
    assert checks.check_timestamps([(1, 1, "a"), (2, 2, "b"), (3, 2, "b")]).ok
    assert not checks.check_timestamps([(1, 2, "a"), (2, 1, "b")]).ok
    assert (
        "two different bodies of v2" in checks.check_timestamps([(1, 2, "a"), (2, 2, "b")]).detail
    )


UPLOADS = [
    {"op": "page", "project": "a", "id": 1, "seq": 1, "html": "h1", "json": "j1"},
    {"op": "page", "project": "a", "id": 2, "seq": 2, "html": "h2", "json": "j2"},
    {"op": "page", "project": "b", "id": 3, "seq": 1, "html": "h3", "json": "j3"},
    {"op": "delete", "project": "b", "id": 4},
]


def test_update_check_catches_a_lost_update_and_an_ignored_deletion() -> None:
    good = {"simple/a/index.html": "h2", "simple/a/index.v1_json": "j2"}
    assert checks.check_updates("repo", UPLOADS, good).ok
    stale = {"simple/a/index.html": "h1", "simple/a/index.v1_json": "j1"}
    assert "not its newest upload" in checks.check_updates("repo", UPLOADS, stale).detail
    undeleted = {**good, "simple/b/index.html": "h3"}
    assert (
        "deleted (entry 4) but still signed" in checks.check_updates("r", UPLOADS, undeleted).detail
    )


def _record(id: int, project: str, version: int | None, published: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        id=id, project=project, timestamp_version=version, published_at=1.0 if published else None
    )


def test_queue_check_catches_lost_unsettled_and_reordered_entries() -> None:
    enqueued = {1: "a", 2: "a", 3: "b"}
    records = [_record(1, "a", 5), _record(2, "a", 7), _record(3, "b", None)]
    assert checks.check_queue_order(records, enqueued).ok
    assert "gone from the queue" in checks.check_queue_order(records[:2], enqueued).detail
    unsettled = [*records[:2], _record(3, "b", None, published=False)]
    assert "never published" in checks.check_queue_order(unsettled, enqueued).detail
    reordered = [_record(1, "a", 7), _record(2, "a", 5), records[2]]
    assert "after a newer entry" in checks.check_queue_order(reordered, enqueued).detail


def _session(before: int, after: int) -> dict:
    return {"kind": "refresh", "ok": True, "before": before, "after": after}


def _page(project: str, digest: str, seq: int | None, listed: bool = True) -> dict:
    return {"kind": "page", "project": project, "listed": listed, "sha256": digest, "seq": seq}


def test_client_check_catches_unsigned_bytes_and_rollbacks() -> None:
    pages = {"a": {"h1", "h2"}}
    good = [_session(0, 3), _page("a", "h1", 1), _session(3, 4), _page("a", "h2", 2)]
    assert all(c.ok for c in checks.check_clients({"c": good}, pages, {"f"}))

    def failed(events: list[dict]) -> str:
        return next(c.detail for c in checks.check_clients({"c": events}, pages, {"f"}) if not c.ok)

    assert "never uploaded" in failed([_session(0, 3), _page("a", "evil", 1)])
    assert "timestamp v2 after v3" in failed([_session(0, 3), _session(3, 2)])
    assert "went back" in failed([_session(0, 3), _page("a", "h2", 2), _page("a", "h1", 1)])
    deleted_then_back = [_page("a", "h1", 1), _page("a", "", None, False), _page("a", "h1", 1)]
    assert "went back" in failed([_session(0, 3), *deleted_then_back])
    assert "unknown file" in failed([_session(0, 3), {"kind": "file", "ok": True, "sha256": "x"}])


def test_load_check_catches_unverified_files_and_rollback() -> None:
    def page(seq: int, files: list[str]) -> dict:
        return {
            "kind": "page",
            "status": 200,
            "thread": 0,
            "project": "a",
            "seq": seq,
            "files": files,
        }

    ok = [
        page(1, ["f"]),
        page(2, ["f"]),
        {"kind": "file", "status": 200, "sha256": "f", "expected": "f"},
    ]
    assert checks.check_load(ok, {"f"}).ok
    assert "unknown file" in checks.check_load([page(1, ["x"])], {"f"}).detail
    assert "1.1 after 1.2" in checks.check_load([page(2, ["f"]), page(1, ["f"])], {"f"}).detail
    tampered = {"kind": "file", "status": 200, "sha256": "x", "expected": "f", "name": "w"}
    assert "served bytes" in checks.check_load([tampered], {"f"}).detail


def test_metric_samples_keep_every_label() -> None:
    from tests.soak.report import samples

    text = (
        "# HELP tuf_pypi_proxy_verification_failures_total Refused.\n"
        'tuf_pypi_proxy_verification_failures_total{mirror="http://a/",kind="tampered"} 3.0\n'
        "tuf_pypi_proxy_connections_refused_total 0.0\n"
    )
    assert samples(text) == [
        (
            "tuf_pypi_proxy_verification_failures_total",
            {"mirror": "http://a/", "kind": "tampered"},
            3.0,
        ),
        ("tuf_pypi_proxy_connections_refused_total", {}, 0.0),
    ]


def test_refusal_check_catches_refusals_hidden_by_failover() -> None:
    mirror = "http://127.0.0.1:5000"
    counted = [("tuf_pypi_proxy_mirror_failures_total", {"mirror": f"{mirror}/"}, 2.0)]
    assert checks.check_refusals_counted(3, counted, mirror, per_mirror=True).ok
    other = [("tuf_pypi_proxy_mirror_failures_total", {"mirror": "http://x/"}, 2.0)]
    hidden = checks.check_refusals_counted(3, other, mirror, per_mirror=True)
    assert not hidden.ok and "3 corrupted answers to the proxy, 0 counted" in hidden.detail
    assert "not checked" in checks.check_refusals_counted(3, [], mirror, per_mirror=False).detail
