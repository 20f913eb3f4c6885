"""Load test of the upload queue: many writers, several publishers, one killed mid-way.

Writer processes enqueue page updates (as an index's web workers would, each through
its own connection) while publisher processes drain the queue; once part of the
updates are published, the active publisher is killed with SIGKILL and another one
must take over. At the end every update must be published, ``verify`` must pass, and
each project's signed pages must be the bytes of its newest update. Prints the
throughput and the publish lag (enqueue to timestamp, p50/p99).

    .venv/bin/python scripts/bench/queue_load.py                  # 20 writers, 100k updates
    .venv/bin/python scripts/bench/queue_load.py --writers 4 --updates 800 --json

Without --db it starts a throwaway PostgreSQL with scripts/postgres. With --db the
database must hold no queue entries yet. Exit status 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tuf_pypi import layout
from tuf_pypi.keys import KDF_LIMITS
from tuf_pypi.queue import EntryRecord, UploadQueue, deletion, open_queue, page_update
from tuf_pypi.queue.batching import percentile
from tuf_pypi.repository import RepositoryStorage, init_repository, load_view, verify_repository

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "queue-load-passphrase"
#: Throwaway load-test keys: offline keys under their own secret, with a cheap KDF.
OFFLINE = {"offline_passphrase": "queue-load-offline", "offline_kdf": KDF_LIMITS["interactive"]}
DELETE_EVERY = 50  # one update in 50 deletes its project
_PID = re.compile(r" pid (\d+)")


def render_pages(project: str, number: int) -> tuple[bytes, bytes]:
    """HTML and JSON detail pages of ``project`` listing one file, unique per ``number``."""
    filename = f"{project.replace('-', '_')}-1.{number}.tar.gz"
    digest = hashlib.sha256(filename.encode()).hexdigest()
    url = f"../../packages/{digest[:2]}/{digest[2:4]}/{filename}"
    html = (
        "<!DOCTYPE html>\n<html><head>"
        '<meta name="pypi:repository-version" content="1.1">'
        f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>\n"
        f'<a href="{url}#sha256={digest}" data-requires-python="&gt;=3.9">{filename}</a><br>\n'
        "</body></html>\n"
    )
    page = {
        "meta": {"api-version": "1.1"},
        "name": project,
        "files": [
            {
                "filename": filename,
                "url": url,
                "hashes": {"sha256": digest},
                "requires-python": ">=3.9",
                "size": 1000 + number,
            }
        ],
        "versions": [f"1.{number}"],
    }
    return html.encode(), json.dumps(page, sort_keys=True).encode()


def _write_updates(
    url: str, writer: int, numbers: range, projects: int, seed: int, rate: float | None
) -> None:
    """One writer process: enqueue its share of updates, each in its own transaction.

    With ``rate`` (updates per second for this writer) the writer paces itself, as
    uploads arrive in production; without, it writes as fast as it can.
    """
    rng = random.Random(seed * 1000 + writer)
    started = time.monotonic()
    with UploadQueue(url) as queue:
        for done, number in enumerate(numbers):
            if rate:
                time.sleep(max(0.0, started + done / rate - time.monotonic()))
            project = f"proj-{rng.randrange(projects)}"
            if number % DELETE_EVERY == DELETE_EVERY - 1:
                queue.enqueue(deletion(project))
            else:
                html, json_page = render_pages(project, number)
                queue.enqueue(page_update(project, html=html, json=json_page))


@dataclass
class Run:
    """The processes and files of one load test."""

    work: Path
    url: str
    args: argparse.Namespace
    publishers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.work / "repo"

    @property
    def keys(self) -> Path:
        return self.work / "keys"

    def start_publisher(self) -> subprocess.Popen:
        index = len(self.publishers)
        log = open(self.work / f"publisher-{index}.log", "wb")  # noqa: SIM115 - closed by the OS
        command = [
            sys.executable,
            "-m",
            "tuf_pypi.cli",
            "publisher",
            "--repo",
            str(self.repo),
            "--keys-dir",
            str(self.keys),
            "--db",
            self.url,
            "--batch-size",
            str(self.args.batch_size),
            "--batch-wait",
            str(self.args.batch_wait),
            "--poll",
            "0.2",
        ]
        env = {**os.environ, "TUF_PYPI_PASSPHRASE": PASSPHRASE}
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.publishers.append(process)
        return process

    def stop_publishers(self) -> list[int | None]:
        for process in self.publishers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.publishers:
            try:
                codes.append(process.wait(30))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(None)
        return codes


def _leader_pid(queue) -> int | None:
    match = _PID.search(queue.leader() or "")
    return int(match.group(1)) if match else None


def _published(records: list[EntryRecord]) -> int:
    return sum(r.published_at is not None for r in records)


def _all_records(queue) -> list[EntryRecord]:
    records: list[EntryRecord] = []
    while batch := queue.records(records[-1].id if records else 0, 50_000):
        records += batch
    return records


def expected_pages(records: list[EntryRecord]) -> dict[str, str | None]:
    """Target path -> sha256 of its newest applied bytes (None: removed)."""
    expected: dict[str, str | None] = {}
    for record in records:  # in id order
        if record.timestamp_version is None:
            continue  # superseded: never applied
        html_path = layout.page_target(record.project, "index.html")
        json_path = layout.page_target(record.project, "index.v1_json")
        if record.deleted:
            expected[html_path] = expected[json_path] = None
        else:
            expected[html_path], expected[json_path] = record.html_sha256, record.json_sha256
    return expected


def signed_pages(repo: Path) -> dict[str, str]:
    view = load_view(RepositoryStorage(repo))
    signed = {}
    for name in view.bin_names():
        for path, target in view.bin(name).signed.targets.items():
            signed[path] = target.hashes["sha256"]
    return signed


def run(args: argparse.Namespace, work: Path, url: str) -> dict:
    """The load test proper; returns the results (``ok`` says whether every check passed)."""
    (work / "repo" / "simple").mkdir(parents=True)
    init_repository(
        work / "repo",
        work / "keys",
        PASSPHRASE,
        **OFFLINE,
        number_of_bins=args.bins,
        now=datetime.now(timezone.utc),
    )
    queue = open_queue(url, application_name="tuf-pypi queue_load")
    queue.ensure_schema()
    if queue.records(0, 1):
        raise SystemExit(f"queue_load: {url} already holds queue entries; use an empty database")
    load = Run(work, url, args)
    result: dict = {
        "writers": args.writers,
        "updates": args.updates,
        "projects": args.projects,
        "rate": args.rate,
    }
    try:
        for _ in range(args.publishers):
            load.start_publisher()
        deadline = time.monotonic() + args.timeout
        while _leader_pid(queue) is None:  # publishers start up (keys, imports) first
            if time.monotonic() > deadline or all(p.poll() is not None for p in load.publishers):
                raise SystemExit(f"queue_load: no publisher became active; see {work}/publisher-*")
            time.sleep(0.05)
        ctx = multiprocessing.get_context("fork")
        share = -(-args.updates // args.writers)
        writers = [
            ctx.Process(
                target=_write_updates,
                args=(
                    url,
                    w,
                    range(w * share, min(args.updates, (w + 1) * share)),
                    args.projects,
                    args.seed,
                    args.rate / args.writers if args.rate else None,
                ),
            )
            for w in range(args.writers)
        ]
        started = time.monotonic()
        for process in writers:
            process.start()

        # Kill the active publisher once part of the updates are published.
        kill_at = int(args.updates * args.kill_after)
        victim = None
        published = 0
        while victim is None and time.monotonic() < deadline:
            published = queue.stats().published
            if published >= kill_at:
                victim = _leader_pid(queue)
            if victim is None:
                time.sleep(0.05)
        if victim is None:
            raise SystemExit("queue_load: no active publisher to kill before the timeout")
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        result["killed_publisher"] = {"pid": victim, "after_published": published}
        load.start_publisher()  # keep a standby around, as an operator would
        takeover = None
        while time.monotonic() < deadline:
            pid = _leader_pid(queue)
            if pid is not None and pid != victim:
                takeover = time.monotonic() - killed_at
                break
            time.sleep(0.02)
        result["takeover_seconds"] = takeover

        for process in writers:
            process.join(max(1.0, deadline - time.monotonic()))
        writing = time.monotonic() - started
        result["writer_exit_codes"] = sorted({p.exitcode for p in writers}, key=str)
        result["enqueue_seconds"] = round(writing, 3)
        result["enqueue_per_second"] = round(args.updates / writing, 1)
        while time.monotonic() < deadline and queue.pending().depth > 0:
            time.sleep(0.1)
        result["drain_seconds"] = round(time.monotonic() - started, 3)
        result["publisher_exit_codes"] = load.stop_publishers()
    finally:
        load.stop_publishers()

    records = _all_records(queue)
    queue.close()
    applied = [r for r in records if r.timestamp_version is not None]
    lags = [r.published_at - r.enqueued_at for r in applied if r.published_at is not None]
    first = min(r.enqueued_at for r in records)
    last = max((r.published_at or 0.0) for r in records)
    expected = {p: sha for p, sha in expected_pages(records).items() if sha is not None}
    signed = signed_pages(work / "repo")
    wrong = sorted(p for p in set(expected) | set(signed) if expected.get(p) != signed.get(p))
    report = verify_repository(RepositoryStorage(work / "repo"), datetime.now(timezone.utc))
    result.update(
        entries=len(records),
        published=_published(records),
        superseded=len(records) - len(applied),
        timestamp_version=max((r.timestamp_version or 0) for r in records),
        published_per_second=round(len(records) / max(last - first, 1e-9), 1),
        lag_p50=round(percentile(lags, 50), 3),
        lag_p99=round(percentile(lags, 99), 3),
        lag_max=round(max(lags), 3) if lags else None,
        pages_not_matching=wrong[:10],
        verify_ok=report.ok,
        verify_problems=report.problems[:10],
        verify_pending=report.pending[:10],
    )
    result["ok"] = bool(
        len(records) == args.updates
        and result["published"] == args.updates
        and not wrong
        and report.ok
        and not report.pending
        and result["takeover_seconds"] is not None
        and result["writer_exit_codes"] == [0]
    )
    return result


def _print(result: dict) -> None:
    print(
        f"updates:   {result['entries']} by {result['writers']} writers over "
        f"{result['projects']} projects in {result['enqueue_seconds']} s "
        f"({result['enqueue_per_second']}/s enqueued"
        + (f", paced at {result['rate']}/s)" if result["rate"] else ", unpaced)")
    )
    print(
        f"published: {result['published']} ({result['superseded']} superseded) "
        f"at {result['published_per_second']}/s, last timestamp v{result['timestamp_version']}, "
        f"queue drained after {result['drain_seconds']} s"
    )
    print(
        f"lag:       p50 {result['lag_p50']} s, p99 {result['lag_p99']} s, "
        f"max {result['lag_max']} s (enqueue to timestamp)"
    )
    killed = result["killed_publisher"]
    print(
        f"failover:  killed pid {killed['pid']} (SIGKILL) after {killed['after_published']} "
        f"published; another active after {result['takeover_seconds']} s"
    )
    print(f"verify:    {'OK' if result['verify_ok'] else 'FAILED'} {result['verify_problems']}")
    if result["pages_not_matching"] or result["verify_pending"]:
        print(f"mismatch:  {result['pages_not_matching']} {result['verify_pending']}")
    print("RESULT:    " + ("ok" if result["ok"] else "FAILED"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="queue database URL (default: a throwaway PostgreSQL)")
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5000, help="distinct projects updated")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument(
        "--kill-after", type=float, default=0.3, help="fraction published before the kill"
    )
    parser.add_argument("--bins", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--batch-wait", type=float, default=0.2)
    parser.add_argument(
        "--rate", type=float, help="total updates per second (default: as fast as possible)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the whole run")
    parser.add_argument("--work", type=Path, help="keep the repository and logs here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="queue-load-"))
    server = None
    try:
        url = args.db
        if url is None:
            server = Path(tempfile.mkdtemp(prefix="tuf-pg-", dir="/tmp"))
            started = subprocess.run(
                ["bash", str(ROOT / "scripts" / "postgres"), "start", str(server)],
                capture_output=True,
                text=True,
                env={**os.environ, "PG_STOP_WHEN_GONE": str(os.getpid())},
            )
            if started.returncode != 0:
                print(f"queue_load: cannot start PostgreSQL: {started.stderr.strip()}")
                return 1
            url = started.stdout.strip()
        result = run(args, work, url)
    finally:
        if server is not None:
            subprocess.run(["bash", str(ROOT / "scripts" / "postgres"), "stop", str(server)])
            shutil.rmtree(server, ignore_errors=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
