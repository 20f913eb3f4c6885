"""Real publisher processes on one PostgreSQL queue: kill -9 the active one, twice.

Another must take over within seconds, every update must end up published exactly
once, no project may go back to older bytes, and the repository must verify. The
small-scale load test (scripts/bench/queue_load.py) runs here too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

from tuf_pypi.queue import UploadQueue, open_queue, page_update
from tuf_pypi.repository import verify_repository
from tuf_pypi.testing.passphrases import PASSPHRASE
from tuf_pypi.testing.signed_repo import SignedRepo

from .pages import ROOT, queue_load, render_pages

_PID = re.compile(r" pid (\d+)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Publishers:
    """``tuf-pypi publisher`` processes, each with a metrics port and a log file."""

    def __init__(self, signed: SignedRepo, url: str, logs: Path) -> None:
        self.signed, self.url, self.logs = signed, url, logs
        self.processes: dict[int, subprocess.Popen] = {}
        self.ports: dict[int, int] = {}

    def start(self, *extra: str) -> int:
        port = _free_port()
        log = open(self.logs / f"publisher-{len(self.processes)}.log", "wb")  # noqa: SIM115
        args = f"--batch-size 20 --batch-wait 0.05 --poll 0.1 --metrics-port {port}".split()
        args += extra
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tuf_pypi.cli", "publisher", "--db", self.url),
                *("--repo", str(self.signed.repo), "--keys-dir", str(self.signed.keys_dir)),
                *args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TUF_PYPI_PASSPHRASE": PASSPHRASE},
        )
        self.processes[process.pid] = process
        self.ports[process.pid] = port
        return process.pid

    def log(self, pid: int) -> str:
        index = list(self.processes).index(pid)
        return (self.logs / f"publisher-{index}.log").read_text(errors="replace")

    def leader(self, db) -> int | None:
        match = _PID.search(db.leader() or "")
        return int(match.group(1)) if match else None

    def wait_for_leader(self, db, other_than: int | None = None, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.leader(db)
            if pid is not None and pid != other_than:
                assert pid in self.processes, f"unknown publisher pid {pid}"
                return pid
            time.sleep(0.02)
        raise AssertionError(f"no publisher took over; logs in {self.logs}")

    def scrape(self, pid: int, timeout: float = 30) -> str:
        """The publisher's /metrics, waiting for it to listen (a process just started
        may still be importing)."""
        url = f"http://127.0.0.1:{self.ports[pid]}/metrics"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    content_type = response.headers["Content-Type"]
                    assert content_type.startswith("text/plain; version=0.0.4")
                    return response.read().decode()
            except urllib.error.URLError as e:
                refused = isinstance(e.reason, ConnectionRefusedError)
                exited = self.processes[pid].poll() is not None
                if not refused or exited or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> dict[int, int | None]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for pid, process in self.processes.items():
            try:
                codes[pid] = process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[pid] = None
        return codes


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, f"{name} not exported"
    return float(match.group(1))


def _write(url: str, updates: int, projects: int, done: threading.Event) -> None:
    with UploadQueue(url) as queue:
        for number in range(updates):
            project = f"proj-{number % projects}"
            html, json_page = render_pages(project, number)
            queue.enqueue(page_update(project, html=html, json=json_page))
            time.sleep(0.002)
    done.set()


def _drain(writer: threading.Thread, done: threading.Event, db, logs: Path) -> None:
    """Wait for the writer to finish and the publishers to empty the queue."""
    writer.join(60)
    assert done.is_set()
    deadline = time.monotonic() + 60
    while db.pending().depth:
        assert time.monotonic() < deadline, f"queue not drained; logs in {logs}"
        time.sleep(0.05)


def test_kill_9_of_the_active_publisher_loses_nothing(make_repo, pg_url, tmp_path) -> None:
    signed = make_repo()
    publishers = Publishers(signed, pg_url, tmp_path)
    db = open_queue(pg_url)
    db.ensure_schema()
    try:
        publishers.start()
        publishers.start()
        first = publishers.wait_for_leader(db)
        done = threading.Event()
        writer = threading.Thread(target=_write, args=(pg_url, 400, 25, done))
        writer.start()

        victims, takeovers = [], []
        leader = first
        for threshold in (60, 180):
            while db.stats().published < threshold:
                time.sleep(0.01)
            os.kill(leader, signal.SIGKILL)  # mid-stream, most likely mid-batch
            killed = time.monotonic()
            victims.append(leader)
            publishers.start()  # the operator's replacement
            leader = publishers.wait_for_leader(db, other_than=leader)
            takeovers.append(time.monotonic() - killed)
        _drain(writer, done, db, tmp_path)

        active = publishers.scrape(leader)
        assert _metric(active, "tuf_pypi_publisher_active") == 1
        assert _metric(active, "tuf_pypi_queue_depth") == 0
        assert _metric(active, "tuf_pypi_publish_lag_seconds_count") > 0
        assert 'tuf_pypi_role_expiry_seconds{role="timestamp"}' in active
        standby = next(p for p in publishers.processes if p not in victims and p != leader)
        assert _metric(publishers.scrape(standby), "tuf_pypi_publisher_active") == 0
    finally:
        codes = publishers.stop()
        records = db.records(0, 10_000)
        db.close()

    assert all(seconds < 10 for seconds in takeovers), takeovers
    assert all(codes[pid] == -signal.SIGKILL for pid in victims)
    assert all(code == 0 for pid, code in codes.items() if pid not in victims), codes

    # Every update published once, with a timestamp version; none rolled back.
    assert len(records) == 400 and all(r.timestamp_version is not None for r in records)
    versions = defaultdict(list)
    for record in records:
        versions[record.project].append(record.timestamp_version)
    assert all(v == sorted(v) for v in versions.values())
    # Each project's signed pages are the bytes of its newest update.
    expected = queue_load.expected_pages(records)
    signed_now = queue_load.signed_pages(signed.repo)
    assert {p: signed_now.get(p) for p in expected} == expected
    report = verify_repository(signed.storage, signed.clock())
    assert report.ok and not report.pending, (report.problems, report.pending)


def test_load_script_small_scale(pg_url, tmp_path) -> None:
    """4 writers x 200 updates, two publishers, the active one killed mid-way."""
    args = "--writers 4 --updates 800 --projects 40 --bins 16 --batch-size 50 --kill-after 0.3"
    result = subprocess.run(
        [
            *(sys.executable, str(ROOT / "scripts" / "bench" / "queue_load.py"), "--db", pg_url),
            *args.split(),
            *("--timeout", "120", "--work", str(tmp_path / "load"), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["published"] == summary["entries"] == 800
    assert summary["verify_ok"] and not summary["pages_not_matching"]
    assert summary["killed_publisher"]["after_published"] < 800
    assert summary["takeover_seconds"] is not None


def _manifest(repo: Path) -> dict[str, bytes]:
    """Every versioned metadata file and page copy: name -> bytes."""
    files = {}
    for path in (repo / "tuf").iterdir():
        if path.name not in ("timestamp.json", "root.json"):
            files[str(path.relative_to(repo))] = path.read_bytes()
    for path in (repo / "simple").glob("*/*.index.*"):
        files[str(path.relative_to(repo))] = path.read_bytes()
    return files


def _timestamp_version(repo: Path) -> int:
    return json.loads((repo / "tuf" / "timestamp.json").read_bytes())["signed"]["version"]


def test_leader_paused_past_its_lease_cannot_change_its_successors_files(
    make_repo, pg_url, tmp_path
) -> None:
    """SIGSTOP the active publisher past its lease; a standby takes over and publishes;
    SIGCONT the old one mid-batch. Its fence stops it at its next write: nothing
    the successor wrote changes, the timestamp never goes back, nothing is lost."""
    signed = make_repo()
    publishers = Publishers(signed, pg_url, tmp_path)
    db = open_queue(pg_url)
    db.ensure_schema()
    lease = ("--lease", "1.5")
    try:
        # Separate state directories: on separate hosts a paused publisher's local
        # lock (held mid-batch) would not stand in the successor's way either.
        first = publishers.start(*lease, "--state-dir", str(tmp_path / "state-1"))
        assert publishers.wait_for_leader(db) == first
        publishers.start(*lease, "--state-dir", str(tmp_path / "state-2"))
        done = threading.Event()
        writer = threading.Thread(target=_write, args=(pg_url, 400, 25, done))
        writer.start()
        while db.stats().published < 60:
            time.sleep(0.01)
        os.kill(first, signal.SIGSTOP)  # most likely mid-batch: it is always busy
        paused = time.monotonic()
        successor = publishers.wait_for_leader(db, other_than=first)
        took_over = time.monotonic() - paused
        published = db.stats().published
        while db.stats().published < published + 40:  # the successor publishes
            time.sleep(0.01)
        before = _manifest(signed.repo)
        version = _timestamp_version(signed.repo)
        os.kill(first, signal.SIGCONT)
        seen = [version]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # watch the timestamp while it wakes up
            seen.append(_timestamp_version(signed.repo))
            time.sleep(0.002)
        after = _manifest(signed.repo)
        _drain(writer, done, db, tmp_path)
        assert publishers.leader(db) == successor
    finally:
        codes = publishers.stop()
        records = db.records(0, 10_000)
        db.close()

    assert took_over < 10, took_over
    assert seen == sorted(seen), "the timestamp went back"
    changed = [name for name, data in before.items() if after.get(name) != data]
    assert not changed, f"files of the successor changed: {changed}"
    old_log = publishers.log(first)
    # Resumed, it found its session ended (at a fence check or its next poll).
    woke = ("lost the publisher lock", "stepped down", "server closed the connection")
    assert any(message in old_log for message in woke), old_log
    assert all(code == 0 for code in codes.values()), codes
    assert len(records) == 400 and all(r.timestamp_version is not None for r in records)
    expected = queue_load.expected_pages(records)
    signed_now = queue_load.signed_pages(signed.repo)
    assert {p: signed_now.get(p) for p in expected} == expected
    verify = subprocess.run(
        [sys.executable, "-m", "tuf_pypi.cli", "verify", "--repo", str(signed.repo)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
