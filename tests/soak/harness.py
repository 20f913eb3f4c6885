"""Start the whole system on loopback, load it, inject the seeded faults, check, report.

Components (each a real process, as deployed): PostgreSQL (scripts/postgres), two
``tuf-pypi publisher`` processes (a killed one is replaced, as systemd would), the
upload generator, nginx with the shipped config serving the repository (on a small
tmpfs of its own, so "disk full" never touches the machine's disk), a ``mirror sync``
loop into a second tree served by a second nginx, ``gc`` on both, a fault-injecting
front of the mirror, the verifying proxy in front of both, pip and uv through it,
an HTTP load generator and library clients.

Run it with ``scripts/soak`` (see ``--help``); docs/pypi-integration.md explains the
figures. Exit status 0 only if every safety check held.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuf_pypi.demo import installer_env
from tuf_pypi.queue import open_queue
from tuf_pypi.sample import build_index
from tuf_pypi.testing.nginx import Nginx
from tuf_pypi.testing.proxy_process import ProxyProcess

from .report import evaluate, print_report
from .schedule import KINDS, Fault, fault_schedule
from .system import (
    PYTHON,
    ROOT,
    Measured,
    after,
    children,
    free_port,
    peak_rss_kb,
    process_state,
    read_events,
    run_measured,
    signed_pages,
    soak_env,
    tree_bytes,
    tuf_pypi,
)

#: The publishers' lease (where they have one): a stopped leader is taken over after it.
LEASE = 5.0
_PID = re.compile(r" pid (\d+)")


@dataclass
class Settings:
    duration: float = 600.0
    seed: int = 0
    work: Path | None = None
    keep: bool = False
    rate: float = 5.0  #: steady uploads per second
    burst: int = 40  #: uploads in one burst
    tmpfs_mb: int = 64
    bins: int = 16
    load_threads: int = 6
    grace: str = "30s"

    @property
    def warmup(self) -> float:
        return min(20.0, self.duration * 0.15)

    @property
    def cooldown(self) -> float:
        return min(30.0, self.duration * 0.1)


@dataclass
class Publisher:
    name: str
    process: subprocess.Popen
    log: Path
    port: int


@dataclass
class Record:
    """What the harness itself observed during the run."""

    faults: list[dict[str, Any]] = field(default_factory=list)
    timestamps: list[tuple[float, int, str]] = field(default_factory=list)
    watched: dict[str, list[tuple[float, int, str]]] = field(
        default_factory=lambda: {"mirror's": [], "proxy's trusted": []}
    )
    killed: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    gcs: list[dict[str, Any]] = field(default_factory=list)
    installs: list[dict[str, Any]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    disk_peak: dict[str, int] = field(default_factory=dict)
    takeovers: list[dict[str, Any]] = field(default_factory=list)
    clock: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def peak(self, component: str, kb: int) -> None:
        self.rss[component] = max(self.rss.get(component, 0), kb)


class Soak:
    """One soak run; :meth:`run` returns the exit status."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.work = settings.work or Path(tempfile.mkdtemp(prefix="soak-", dir="/tmp"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o755)  # PostgreSQL runs as its own user when we are root
        self.fs = self.work / "repofs"
        self.repo = self.fs / "repo"
        self.keys = self.work / "keys"
        self.mirror = self.work / "mirror"
        self.mirror_state = self.work / "mirror-state"
        self.pg_dir = self.work / "pg"
        self.logs = self.work / "logs"
        self.root_file = self.work / "root.json"
        self.projects_file = self.work / "projects.txt"
        self.mode_file = self.work / "faultproxy.mode"
        self.record = Record()
        self.stop = threading.Event()
        self.publishers: list[Publisher] = []
        self.publisher_extra: tuple[str, ...] = ()
        self._modes: list[str] = []  # the faulty mirror's active modes, oldest first
        self.workers: dict[str, subprocess.Popen] = {}
        self.servers: list[Any] = []
        self.lock = threading.Lock()
        self.mounted = False
        self.db: Any = None
        self._db_lock = threading.Lock()
        self.db_url = ""
        self.repo_url = self.mirror_url = self.fault_url = ""
        self.proxy: ProxyProcess | None = None
        self.kill_sync = threading.Event()
        self.clock_fault = threading.Event()
        self.started = 0.0
        self._pending: dict[str, list[tuple[float, str | None]]] = {}
        self._uploads_read = 0

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    # -- setup --------------------------------------------------------------------------

    def setup(self) -> None:
        for directory in (self.logs, self.fs, self.mirror_state):
            directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            mount = ["mount", "-t", "tmpfs", "-o", f"size={self.s.tmpfs_mb}m", "soak", str(self.fs)]
            self.mounted = subprocess.run(mount, capture_output=True).returncode == 0
        if not self.mounted:
            self.say("not root or cannot mount a tmpfs: the disk-full fault will be skipped")
        self.repo.mkdir()
        build_index(self.repo)
        for command in (
            tuf_pypi(
                "init",
                "--repo",
                str(self.repo),
                "--keys-dir",
                str(self.keys),
                "--bins",
                str(self.s.bins),
            ),
            tuf_pypi("publish", "--repo", str(self.repo), "--keys-dir", str(self.keys)),
        ):
            result = run_measured(command, 300)
            if result.code != 0:
                raise RuntimeError(f"{' '.join(command)} failed: {result.err}")
        shutil.copy(self.repo / "tuf" / "1.root.json", self.root_file)
        self.initial_pages: dict[str, set[str]] = {}
        for page in (self.repo / "simple").glob("*/index.*"):
            digest = hashlib.sha256(page.read_bytes()).hexdigest()
            self.initial_pages.setdefault(page.parent.name, set()).add(digest)
        self.initial_files = {
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (self.repo / "packages").rglob("*.whl")
        }
        started = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres"), "start", str(self.pg_dir)],
            capture_output=True,
            text=True,
            env={**os.environ, "PG_STOP_WHEN_GONE": str(os.getpid())},
        )
        if started.returncode != 0:
            raise RuntimeError(f"cannot start PostgreSQL: {started.stderr}")
        self.db_url = started.stdout.strip()
        # scripts/postgres turns synchronous_commit off (fast tests), so its restart fault
        # would lose acknowledged entries: commits must be durable for that check.
        # A role setting overrides the server's command line for every new session.
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as admin:
            admin.execute("ALTER ROLE CURRENT_USER SET synchronous_commit = on")
        self.db = open_queue(self.db_url, application_name="tuf-pypi soak harness")
        self.db.ensure_schema()
        nginx_repo = Nginx(self.repo, self.work / "nginx-repo")
        self.repo_url = nginx_repo.start()
        self.servers.append(nginx_repo)
        self.mirror.mkdir()
        first = self._sync()
        if first.code != 0:
            raise RuntimeError(f"first mirror sync failed: {first.err}")
        nginx_mirror = Nginx(self.mirror, self.work / "nginx-mirror")
        self.mirror_url = nginx_mirror.start()
        self.servers.append(nginx_mirror)
        self.mode_file.write_text("pass")
        port = self.mirror_url.rsplit(":", 1)[1]
        self._worker(
            "faultproxy",
            upstream_host="127.0.0.1",
            upstream_port=int(port),
            mode=str(self.mode_file),
            port_file=str(self.work / "faultproxy.port"),
        )
        deadline = time.monotonic() + 30
        while not (self.work / "faultproxy.port").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the fault proxy did not start")
            time.sleep(0.05)
        time.sleep(0.1)
        self.fault_url = f"http://127.0.0.1:{(self.work / 'faultproxy.port').read_text()}"
        self._write_projects(signed_pages(self.mirror))
        self.proxy = ProxyProcess(
            [self.fault_url, self.repo_url],
            self.root_file,
            self.work / "proxy-cache",
            "--max-connections",
            "256",
            "--refresh-interval",
            "3s",
            log=self.logs / "proxy.log",
        )
        help_text = run_measured(tuf_pypi("publisher", "--help"), 120).out
        if "--lease" in help_text:  # a silent (stopped) leader is taken over after the lease
            self.publisher_extra = ("--lease", str(LEASE))
        self.publishers_start()
        self.publishers_start()

    def _worker(self, role: str, **config: Any) -> None:
        config_path = self.work / f"{role}.json"
        config.setdefault("events", str(self.logs / f"{role}.jsonl"))
        config.setdefault("seed", self.s.seed)
        config_path.write_text(json.dumps(config))
        log = (self.logs / f"{role}.log").open("ab")
        self.workers[role] = subprocess.Popen(
            [PYTHON, "-m", "tests.soak.workers", role.split("#")[0], str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=soak_env(),
            cwd=ROOT,
        )

    def publishers_start(self) -> None:
        with self.lock:
            name = f"publisher-{len(self.publishers) + 1}"
            log = self.logs / f"{name}.log"
            port = free_port()
            options = f"--batch-size 50 --batch-wait 0.2 --poll 0.2 --metrics-port {port}"
            places = ("--db", self.db_url, "--repo", str(self.repo), "--keys-dir", str(self.keys))
            command = tuf_pypi("publisher", *places, *options.split(), *self.publisher_extra)
            process = subprocess.Popen(
                command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=soak_env()
            )
            self.publishers.append(Publisher(name, process, log, port))

    def start_load(self) -> None:
        self._worker(
            "uploads",
            db=self.db_url,
            repo=str(self.repo),
            scratch=str(self.work / "wheels"),
            rate=self.s.rate,
            burst=self.s.burst,
            burst_every=max(10.0, self.s.duration / 8),
            min_projects=15,
        )
        assert self.proxy is not None
        host, port = self.proxy.url.split("//")[1].split("/")[0].split(":")
        self._worker(
            "load",
            proxy_host=host,
            proxy_port=int(port),
            projects=str(self.projects_file),
            threads=self.s.load_threads,
            file_ratio=0.5,
            pause=0.05,
        )
        # Clients 1 and 3 share a cache directory, as processes of one user do.
        clients = (
            ([self.fault_url, self.repo_url], "cache-a"),
            ([self.mirror_url, self.repo_url], "cache-b"),
            ([self.mirror_url, self.fault_url], "cache-a"),
        )
        for n, (mirrors, cache) in enumerate(clients):
            role = f"client#{n + 1}"
            self._worker(
                role,
                mirrors=mirrors,
                root=str(self.root_file),
                cache=str(self.work / cache),
                projects=str(self.projects_file),
                pause=0.3,
                seed=self.s.seed + n,
                events=str(self.logs / f"client-{n + 1}.jsonl"),
            )

    # -- the leader ---------------------------------------------------------------------

    def query(self, ask: Callable[[Any], Any]) -> Any:
        """``ask(queue)`` on the harness's own queue connection, reconnecting as needed;
        None while the server is down (it restarts during the run)."""
        with self._db_lock:
            try:
                if self.db is None:
                    self.db = open_queue(self.db_url, application_name="tuf-pypi soak harness")
                return ask(self.db)
            except Exception:
                with contextlib.suppress(Exception):
                    self.db.close()
                self.db = None
                return None

    def leader(self) -> Publisher | None:
        """The publisher holding the lock, as PostgreSQL sees it (None when none or down)."""
        found = _PID.search(self.query(lambda db: db.leader()) or "")
        if found is None:
            return None
        pid = int(found.group(1))
        return next((p for p in self.publishers if p.process.pid == pid), None)

    def wait_leader(self, timeout: float, other_than: Publisher | None = None) -> Publisher | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.leader()
            if found is not None and found is not other_than:
                return found
            time.sleep(0.05)
        return None

    # -- loops --------------------------------------------------------------------------

    def _sync(
        self, kill_when: Callable[[float], bool] | None = None, faketime: str | None = None
    ) -> Measured:
        command = tuf_pypi(
            "mirror",
            "sync",
            "--from",
            self.repo_url,
            "--to",
            str(self.mirror),
            "--root",
            str(self.root_file),
            "--state-dir",
            str(self.mirror_state),
            "-q",
            "--json",
        )
        if faketime:
            command = ["faketime", "-f", faketime, *command]
        return run_measured(command, 600, kill_when=kill_when)

    def sync_loop(self) -> None:
        rng = random.Random(self.s.seed + 7)
        while not self.stop.is_set():
            if self.clock_fault.is_set():
                self.clock_fault.clear()
                self._clock_forward()
                continue
            kill_at = rng.uniform(0.05, 1.0) if self.kill_sync.is_set() else None
            result = self._sync(kill_when=after(kill_at))
            if kill_at is not None and result.code == -signal.SIGKILL:
                self.kill_sync.clear()
                self.record.faults.append(
                    {
                        "kind": "kill-sync",
                        "at": self.now(),
                        "detail": f"killed {kill_at:.2f} s into its run",
                    }
                )
                self.say(f"fault: killed mirror sync {kill_at:.2f} s into its run")
            self.record.peak("mirror sync", result.max_rss_kb)
            self.record.syncs.append(
                {"t": time.time(), "code": result.code, "seconds": result.seconds}
            )
            if result.code == 0:
                self._observe_mirror(time.time())
            self.stop.wait(1.0)

    def _observe_mirror(self, now: float) -> None:
        """Upload-to-visible latency: uploads whose bytes (or newer) the mirror now signs."""
        uploads = read_events(self.logs / "uploads.jsonl")
        for event in uploads[self._uploads_read :]:
            if event.get("op") == "page":
                self._pending.setdefault(event["project"], []).append((event["t"], event["html"]))
            elif event.get("op") == "delete":
                self._pending.setdefault(event["project"], []).append((event["t"], None))
        self._uploads_read = len(uploads)
        try:
            signed = signed_pages(self.mirror)
        except Exception as exc:
            self.record.problems.append(f"cannot read the mirror after a sync: {exc}")
            return
        self._write_projects(signed)
        for project, waiting in self._pending.items():
            current = signed.get(f"simple/{project}/index.html")
            hit = max((i for i, (_, h) in enumerate(waiting) if h == current), default=None)
            if hit is not None:
                self.record.latencies.extend(now - t for t, _ in waiting[: hit + 1])
                del waiting[: hit + 1]

    def gc_loop(self) -> None:
        interval = min(max(self.s.duration / 8, 10.0), 60.0)
        while not self.stop.wait(interval):
            for tree, extra in (
                (self.repo, ("--keys-dir", str(self.keys))),
                (self.mirror, ("--state-dir", str(self.mirror_state))),
            ):
                result = run_measured(
                    tuf_pypi("gc", "--repo", str(tree), "--grace", self.s.grace, "--json", *extra),
                    300,
                )
                self.record.peak("gc", result.max_rss_kb)
                freed = 0
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    freed = int(json.loads(result.out)["bytes_freed"])
                self.record.gcs.append(
                    {
                        "tree": tree.name,
                        "code": result.code,
                        "freed": freed,
                        "err": result.err[-300:],
                    }
                )

    def install_loop(self) -> None:
        assert self.proxy is not None
        uv = shutil.which("uv", path=str(Path(PYTHON).parent)) or shutil.which("uv")
        n = 0
        while not self.stop.wait(2.0):
            n += 1
            target = Path(tempfile.mkdtemp(prefix="soak-install-", dir=self.work))
            projects = [p for p in self.projects_file.read_text().split() if p.startswith("soak-")]
            wanted = ["demo-app", *(random.Random(n).sample(projects, 1) if projects else [])]
            if n % 2 and uv:
                tool = "uv"
                command = [
                    uv,
                    "pip",
                    "install",
                    "--no-config",
                    "--no-cache",
                    "--python",
                    PYTHON,
                    "--target",
                    str(target),
                    "--index-url",
                    self.proxy.url,
                    *wanted,
                ]
            else:
                tool = "pip"
                command = [
                    PYTHON,
                    "-m",
                    "pip",
                    "install",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                    "--target",
                    str(target),
                    "--index-url",
                    self.proxy.url,
                    *wanted,
                ]
            result = run_measured(command, 300, env=installer_env())
            self.record.peak(tool, result.max_rss_kb)
            self.record.installs.append(
                {
                    "tool": tool,
                    "code": result.code,
                    "seconds": result.seconds,
                    "wanted": wanted,
                    "err": result.err[-300:],
                }
            )
            shutil.rmtree(target, ignore_errors=True)

    def watch_loop(self) -> None:
        """Poll the timestamps (split brain, rollback), memory, disk, the project list.

        The repository's and the mirror's served ``timestamp.json``, and the proxy's
        trusted one (in its cache), every 50 ms.
        """
        watched = {
            "repository": (self.repo / "tuf" / "timestamp.json", self.record.timestamps),
            "mirror": (self.mirror / "tuf" / "timestamp.json", self.record.watched["mirror's"]),
            "proxy's trusted": (
                self.work / "proxy-cache" / "metadata" / "timestamp.json",
                self.record.watched["proxy's trusted"],
            ),
        }
        previous: dict[str, bytes] = {}
        last_slow = 0.0
        while not self.stop.wait(0.05):
            for name, (path, observed) in watched.items():
                with contextlib.suppress(OSError, ValueError, KeyError):
                    data = path.read_bytes()
                    if data != previous.get(name):
                        previous[name] = data
                        version = json.loads(data)["signed"]["version"]
                        observed.append((time.time(), version, hashlib.sha256(data).hexdigest()))
            if time.monotonic() - last_slow > 2.0:
                last_slow = time.monotonic()
                self._sample()

    def _sample(self) -> None:
        for publisher in self.publishers:
            self.record.peak("publisher", peak_rss_kb(publisher.process.pid))
        for role, process in self.workers.items():
            self.record.peak(role.split("#")[0], peak_rss_kb(process.pid))
        if self.proxy is not None:
            self.record.peak("proxy", peak_rss_kb(self.proxy.process.pid))
        for name, server in zip(
            ("nginx (repository)", "nginx (mirror)"), self.servers, strict=False
        ):
            if server.process is not None:
                for pid in (server.process.pid, *children(server.process.pid)):
                    self.record.peak(name, peak_rss_kb(pid))
        with contextlib.suppress(OSError, ValueError):
            postmaster = int((self.pg_dir / "data" / "postmaster.pid").read_text().split()[0])
            for pid in (postmaster, *children(postmaster)):
                self.record.peak("postgresql (per process)", peak_rss_kb(pid))
        self.record.peak("harness", peak_rss_kb(os.getpid()))
        for name, tree in (("repository", self.repo), ("mirror", self.mirror)):
            used = tree_bytes(tree)
            self.record.disk_peak[name] = max(self.record.disk_peak.get(name, 0), used)

    def _write_projects(self, signed: dict[str, str]) -> None:
        """The projects load and clients ask for: those the mirror signs (a few get deleted
        before the clients' next session: answered as not found)."""
        live = dict.fromkeys(path.split("/")[1] for path in signed)
        temporary = self.projects_file.with_suffix(".tmp")
        temporary.write_text("\n".join(live))
        temporary.rename(self.projects_file)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 2)

    # -- faults -------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        entry: dict[str, Any] = {"kind": fault.kind, "at": self.now(), "hold": fault.hold}
        try:
            detail = getattr(self, "_fault_" + fault.kind.replace("-", "_"))(fault.hold)
        except Exception as exc:
            detail = f"not injected: {type(exc).__name__}: {exc}"
        if detail is not None:
            entry["detail"] = detail
            self.record.faults.append(entry)
            self.say(f"fault {fault.kind}: {detail}")

    def _kill_leader(self, mid_batch: bool) -> str:
        leader = self.wait_leader(30)
        if leader is None:
            return "not injected: no active publisher"
        if mid_batch:
            self._wait_running(leader)
            # The lock may have moved meanwhile (another fault): kill whoever holds it now.
            leader = self.leader() or leader
        killed = time.time()
        leader.process.send_signal(signal.SIGKILL)
        self.record.killed[leader.name] = killed
        threading.Timer(1.0, self.publishers_start).start()  # the operator's (systemd's) restart
        self._takeover(leader, killed, "kill -9")
        return f"killed {leader.name}" + (" while running" if mid_batch else "")

    @staticmethod
    def _wait_running(publisher: Publisher, timeout: float = 10.0) -> None:
        """Wait until ``publisher`` is running (not sleeping): it is inside a batch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_state(publisher.process.pid) != "R":
            time.sleep(0.002)

    def _takeover(self, old: Publisher, since: float, cause: str) -> None:
        def wait() -> None:
            new = self.wait_leader(120, other_than=old)
            took = time.time() - since if new is not None else None
            first_write = next((t for t, _, _ in list(self.record.timestamps) if t > since), None)
            deadline = time.monotonic() + 120
            while first_write is None and time.monotonic() < deadline and not self.stop.is_set():
                time.sleep(0.1)
                first_write = next(
                    (t for t, _, _ in list(self.record.timestamps) if t > since), None
                )
            self.record.takeovers.append(
                {
                    "cause": cause,
                    "from": old.name,
                    "to": new.name if new else None,
                    "takeover_s": took,
                    "downtime_s": None if first_write is None else first_write - since,
                }
            )

        threading.Thread(target=wait, daemon=True).start()

    def _fault_kill_leader(self, hold: float) -> str:
        return self._kill_leader(mid_batch=False)

    def _fault_kill_leader_mid_batch(self, hold: float) -> str:
        return self._kill_leader(mid_batch=True)

    def _fault_stop_leader(self, hold: float) -> str:
        leader = self.wait_leader(30)
        if leader is None:
            return "not injected: no active publisher"
        hold = max(hold, LEASE + 3.0)  # past the lease
        self._wait_running(leader)  # stopped inside a batch: it resumes mid-write
        stopped = time.time()
        leader.process.send_signal(signal.SIGSTOP)
        new = self.wait_leader(hold, other_than=leader)
        if new is None:
            self.stop.wait(max(0.0, hold - (time.time() - stopped)))
        leader.process.send_signal(signal.SIGCONT)
        writes = [t for t, _, _ in self.record.timestamps if stopped < t < stopped + hold]
        outcome = f"{new.name} took over" if new else "no takeover (the lock stayed with it)"
        held = time.time() - stopped
        return (
            f"stopped {leader.name} for {held:.1f} s: {outcome}; {len(writes)} timestamps meanwhile"
        )

    def _fault_postgres_restart(self, hold: float) -> str:
        port = self.db_url.rsplit(":", 1)[1].split("/")[0]
        script = ["bash", str(ROOT / "scripts" / "postgres")]
        subprocess.run([*script, "stop", str(self.pg_dir)], capture_output=True, check=True)
        down = time.time()
        self.stop.wait(min(hold / 2, 3.0))
        subprocess.run([*script, "start", str(self.pg_dir), port], capture_output=True, check=True)
        up = time.time()
        back = self.wait_leader(120)
        leading = f"{back.name} active {time.time() - up:.1f} s later" if back else "nobody active"
        return f"down {up - down:.1f} s; {leading}"

    def _fault_disk_full(self, hold: float) -> str | None:
        if not self.mounted:
            return "not injected: no tmpfs (run as root)"
        filler = self.fs / "filler"
        written = 0
        with filler.open("wb") as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
                written += 1 << 20
        self.stop.wait(hold)
        filler.unlink(missing_ok=True)  # finish() may have removed it already
        return f"filled with {written >> 20} MiB for {hold:.0f} s"

    def _fault_kill_sync(self, hold: float) -> None:
        self.kill_sync.set()  # the sync loop kills its next run and records it
        return None

    def _mirror_mode(self, mode: str, hold: float) -> str:
        """The faulty mirror hangs or corrupts for ``hold`` seconds; overlapping faults
        keep the newest mode until the last one ends."""
        with self.lock:
            self._modes.append(mode)
            self.mode_file.write_text(mode)
        self.stop.wait(hold)
        with self.lock:
            self._modes.remove(mode)
            self.mode_file.write_text(self._modes[-1] if self._modes else "pass")
        hits = sum(1 for e in read_events(self.logs / "faultproxy.jsonl") if e.get("kind") == mode)
        return f"{hold:.0f} s; {hits} answers {mode} so far in the run"

    def _fault_mirror_hang(self, hold: float) -> str:
        return self._mirror_mode("hang", hold)

    def _fault_mirror_corrupt(self, hold: float) -> str:
        return self._mirror_mode("corrupt", hold)

    def _fault_clock_forward(self, hold: float) -> None:
        self.clock_fault.set()  # the sync loop runs it, so it never races its own sync
        return None

    def _clock_forward(self) -> None:
        """A download and a mirror sync, each with its clock 2 days ahead: both must refuse."""
        before = (self.mirror / "tuf" / "timestamp.json").read_bytes()
        sync = self._sync(faketime="+2d")
        after = (self.mirror / "tuf" / "timestamp.json").read_bytes()
        with tempfile.TemporaryDirectory(prefix="soak-faketime-", dir=self.work) as scratch:
            download = run_measured(
                [
                    "faketime",
                    "-f",
                    "+2d",
                    *tuf_pypi(
                        "download",
                        "demo-core==1.0",
                        "--mirror",
                        self.fault_url,
                        "--mirror",
                        self.repo_url,
                        "--root",
                        str(self.root_file),
                        "--cache",
                        f"{scratch}/cache",
                        "-d",
                        scratch,
                        "--timeout",
                        "10",
                    ),
                ],
                300,
            )
        entry = {
            "sync_code": sync.code,
            "sync_changed_mirror": before != after,
            "download_code": download.code,
            "download_err": download.err.strip()[-200:],
            "sync_err": sync.err.strip()[-200:],
        }
        self.record.clock.append(entry)
        detail = (
            f"sync exit {sync.code}, download exit {download.code}: {download.err.strip()[-120:]}"
        )
        self.record.faults.append({"kind": "clock-forward", "at": self.now(), "detail": detail})
        self.say(f"fault clock-forward: {detail}")

    def fault_loop(self, schedule: list[Fault]) -> None:
        for fault in schedule:
            if self.stop.wait(max(0.0, fault.at - (time.monotonic() - self.started))):
                return
            threading.Thread(target=self.inject, args=(fault,), daemon=True).start()

    # -- the run ------------------------------------------------------------------------

    def run(self) -> int:
        schedule = fault_schedule(self.s.seed, self.s.warmup, self.s.duration - self.s.cooldown)
        print(
            f"soak: seed {self.s.seed} (replay with --seed {self.s.seed}), "
            f"{self.s.duration:.0f} s, work dir {self.work}",
            flush=True,
        )
        for fault in schedule:
            print(
                f"  at {fault.at:6.1f} s  {fault.kind:<22} hold {fault.hold:4.1f} s"
                f"  ({KINDS[fault.kind]})"
            )
        self.started = time.monotonic()
        try:
            self.setup()
            self.say(
                f"up: repository {self.repo_url}, mirror {self.mirror_url} "
                f"behind {self.fault_url}, "
                f"proxy {self.proxy.url if self.proxy else '?'}, queue {self.db_url}"
            )
            self.started = time.monotonic()
            self.start_load()
            loops = [self.sync_loop, self.gc_loop, self.install_loop, self.watch_loop]
            threads = [threading.Thread(target=loop, daemon=True) for loop in loops]
            threads.append(threading.Thread(target=self.fault_loop, args=(schedule,), daemon=True))
            for thread in threads:
                thread.start()
            self.stop.wait(self.s.duration)
            return self.finish(threads)
        finally:
            self.teardown()

    def finish(self, threads: list[threading.Thread]) -> int:
        self.say("time is up: stopping uploads, clearing faults, draining the queue")
        uploads_started = self.started
        self._terminate(self.workers.pop("uploads"))
        upload_seconds = time.monotonic() - uploads_started
        self.mode_file.write_text("pass")
        (self.fs / "filler").unlink(missing_ok=True)
        for publisher in self.publishers:
            with contextlib.suppress(ProcessLookupError):
                publisher.process.send_signal(signal.SIGCONT)
        if sum(p.process.poll() is None for p in self.publishers) == 0:
            self.publishers_start()
        drained = self._wait(lambda: self.query(lambda db: db.pending().depth) == 0, 300)
        if not drained:
            self.record.problems.append("the queue did not drain within 300 s")
        self.stop.set()  # loops end; the final sync below is the harness's own
        for thread in threads:
            thread.join(timeout=300)
        if self.clock_fault.is_set():  # scheduled, but the sync loop ended first
            self._clock_forward()
        synced = self._wait(
            lambda: self._sync().code == 0 and self._mirror_caught_up(), 300, pause=1.0
        )
        if not synced:
            self.record.problems.append("the mirror did not catch up within 300 s")
        self._observe_mirror(time.time())
        time.sleep(4.0)  # one more proxy refresh and client session on the final state
        for role in [r for r in self.workers if r != "faultproxy"]:
            self._terminate(self.workers.pop(role))
        metrics = self._scrape_metrics()
        (self.logs / "installs.json").write_text(json.dumps(self.record.installs, indent=1))
        for name, text in metrics.items():
            (self.logs / f"metrics-{name}.txt").write_text(text)
        for publisher in self.publishers:
            self._terminate(publisher.process)
        verify = {
            name: run_measured(tuf_pypi("verify", "--repo", str(tree), "--json"), 600)
            for name, tree in (("repository", self.repo), ("mirror", self.mirror))
        }
        results = evaluate(self, verify, metrics)
        print_report(self, results, metrics, upload_seconds)
        return 0 if all(r.ok for r in results) else 1

    def _mirror_caught_up(self) -> bool:
        def version(tree: Path) -> int:
            return json.loads((tree / "tuf" / "timestamp.json").read_bytes())["signed"]["version"]

        return version(self.mirror) == version(self.repo)

    def _wait(self, condition: Callable[[], bool], timeout: float, pause: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if condition():
                    return True
            time.sleep(pause)
        return False

    @staticmethod
    def _terminate(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _scrape_metrics(self) -> dict[str, str]:
        texts = {}
        targets = [("proxy", self.proxy.url.replace("/simple/", "/metrics"))] if self.proxy else []
        targets += [
            (p.name, f"http://127.0.0.1:{p.port}/metrics")
            for p in self.publishers
            if p.process.poll() is None
        ]
        for name, url in targets:
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=10) as response:
                texts[name] = response.read().decode()
        return texts

    def teardown(self) -> None:
        self.stop.set()
        for process in [*self.workers.values(), *(p.process for p in self.publishers)]:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
            self._terminate(process)
        if self.proxy is not None:
            self.proxy.stop()
        for server in self.servers:
            server.stop()
        with contextlib.suppress(Exception):
            self.db.close()
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres"), "stop", str(self.pg_dir)],
            capture_output=True,
        )
        if self.mounted:
            (self.fs / "filler").unlink(missing_ok=True)
            if self.s.keep:  # keep the repository for a post-mortem: copy it off the tmpfs
                shutil.copytree(self.repo, self.work / "repo", symlinks=True, dirs_exist_ok=True)
            subprocess.run(["umount", "-l", str(self.fs)], capture_output=True)
        if not self.s.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/soak",
        description="Run the whole tuf-pypi system on loopback under load and seeded faults; "
        "check nothing was lost or accepted unsigned; print the figures "
        "(docs/pypi-integration.md, 'Soak test').",
    )
    parser.add_argument(
        "--duration", type=float, default=600.0, help="seconds of load and faults (default 600)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="fault schedule seed (default: random, printed)"
    )
    parser.add_argument(
        "--rate", type=float, default=5.0, help="steady uploads per second (default 5)"
    )
    parser.add_argument("--burst", type=int, default=40, help="uploads in one burst (default 40)")
    parser.add_argument("--work", type=Path, help="work directory (default: a new one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, trees)")
    parser.add_argument(
        "--tmpfs-mb", type=int, default=64, help="size of the repository's tmpfs (default 64)"
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    settings = Settings(
        args.duration, seed, args.work, args.keep, args.rate, args.burst, args.tmpfs_mb
    )
    return Soak(settings).run()
