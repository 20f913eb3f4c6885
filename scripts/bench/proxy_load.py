"""Load: many concurrent installers against one verifying proxy, with a malicious mirror.

    python scripts/bench/proxy_load.py [--clients 50] [--rounds 4] [--packages 20]
    python scripts/bench/proxy_load.py --real pip --clients 50     # real pip processes
    python scripts/bench/proxy_load.py --real uv --clients 50      # real uv processes

Builds and signs the benchmark index of proxy_vs_mirror.py, serves it twice on
127.0.0.1 (nginx, or ``python -m http.server``): a *malicious* mirror, listed first,
where every third wheel is replaced by other bytes of the same size, and an honest one.
One ``tuf-pypi proxy`` (empty cache) serves ``--clients`` concurrent installers:

* default: a load generator, one thread per installer, each doing what pip does for
  ``bench-all demo-app`` (every project's JSON page, then every file's ``.metadata``
  and the wheel), ``--rounds`` times, on keep-alive connections. Every 200 answer's
  body is hashed and compared with the sha256 of the *signed* page (read from the index
  on disk): a single unverified byte served would count as ``unverified``.
* ``--real pip`` / ``--real uv``: that many real installer processes at once, each
  installing into its own target; each installed wheel's RECORD is not re-checked, but
  every install must succeed and the tampered wheels are refused by the proxy (counted
  in its metrics).

Reports throughput (requests or installs per second), latency percentiles, the proxy's
peak memory (VmHWM) and how many answers were refused on the malicious mirror, as text
and one JSON line. Loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, fresh_repo, percentiles, publisher
from proxy_vs_mirror import installer, sample, static_mirror

from tuf_pypi.demo import installer_env
from tuf_pypi.sample import build_index

_URL = re.compile(r"http://\S+/simple/")
_JSON = "application/vnd.pypi.simple.v1+json"


@contextmanager
def proxy_process(mirrors: list[str], root: Path, cache: Path) -> Iterator[tuple[str, int]]:
    """``tuf-pypi proxy`` over ``mirrors``; yields its index URL and pid."""
    command = [sys.executable, "-m", "tuf_pypi.cli", "proxy", "--root", str(root)]
    for mirror in mirrors:
        command += ["--mirror", mirror]
    command += ["--cache", str(cache), "--port", "0"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=installer_env()
    )
    try:
        assert proc.stdout is not None
        match = _URL.search(proc.stdout.readline())
        if match is None:
            raise RuntimeError("the proxy did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield match.group(0), proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tamper(repo: Path, copy: Path) -> int:
    """Copy ``repo`` to ``copy``, replacing every third wheel by zeros; how many."""
    shutil.copytree(repo, copy)
    wheels = sorted((copy / "packages").rglob("*.whl"))
    for wheel in wheels[::3]:
        wheel.write_bytes(bytes(wheel.stat().st_size))
    return len(wheels[::3])


class Installer:
    """One simulated installer: pages, then .metadata and wheel of each file."""

    def __init__(self, url: str, projects: list[str]) -> None:
        parts = urlsplit(url)
        self.base = url
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.projects = projects
        self.latencies: list[float] = []
        self.unverified = 0
        self.refused = 0

    def get(self, url: str, accept: str | None = None) -> tuple[int, bytes]:
        start = time.perf_counter()
        self.connection.request("GET", urlsplit(url).path, headers={"Accept": accept or "*/*"})
        response = self.connection.getresponse()
        body = response.read()
        self.latencies.append(time.perf_counter() - start)
        return response.status, body

    def install(self) -> None:
        for project in self.projects:
            page_url = f"{self.base}{project}/"
            status, body = self.get(page_url, _JSON)
            if status != 200:
                raise RuntimeError(f"{page_url}: {status} {body[:200]!r}")
            for entry in json.loads(body)["files"]:
                file_url = urljoin(page_url, entry["url"])
                metadata = entry.get("core-metadata") or entry.get("dist-info-metadata")
                wanted = [(file_url, entry["hashes"]["sha256"])]
                if isinstance(metadata, dict):
                    wanted.insert(0, (file_url + ".metadata", metadata["sha256"]))
                for url, sha256 in wanted:
                    status, data = self.get(url)
                    if status == 200 and hashlib.sha256(data).hexdigest() != sha256:
                        self.unverified += 1
                    elif status != 200:
                        self.refused += 1


def signed_projects(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "simple").iterdir() if p.is_dir())


def run_generator(url: str, projects: list[str], clients: int, rounds: int) -> dict:
    installers = [Installer(url, projects) for _ in range(clients)]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(rounds):
            list(pool.map(Installer.install, installers))
    elapsed = time.perf_counter() - start
    latencies = [s for i in installers for s in i.latencies]
    return {
        "requests": len(latencies),
        "wall_s": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        **percentiles(latencies),
        "unverified_bodies": sum(i.unverified for i in installers),
        "error_answers": sum(i.refused for i in installers),
    }


def run_real(tool: str, url: str, work: Path, clients: int) -> dict:
    command = installer(tool == "uv")
    commands = [command(url, work / f"site-{n}", ["bench-all", "demo-app"]) for n in range(clients)]
    durations: list[float] = []
    failures = 0

    def one(cmd: list[str]) -> None:
        nonlocal failures
        begin = time.perf_counter()
        result = subprocess.run(cmd, env=installer_env(), capture_output=True, text=True)
        durations.append(time.perf_counter() - begin)
        if result.returncode != 0:
            failures += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, commands))
    elapsed = time.perf_counter() - start
    return {
        "installs": clients,
        "failed_installs": failures,
        "wall_s": round(elapsed, 2),
        "installs_per_s": round(clients / elapsed, 2),
        **{f"install_{k}": v for k, v in percentiles(durations).items()},
    }


def refused_total(url: str) -> float:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tuf_pypi_proxy_verification_failures_total{")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent installers")
    parser.add_argument("--rounds", type=int, default=4, help="installs per simulated client")
    parser.add_argument("--packages", type=int, default=20, help="dependencies of bench-all")
    parser.add_argument("--real", choices=["pip", "uv"], help="real installer processes")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        repo, keys = work / "index", work / "keys"
        build_index(repo, sample(args.packages))
        fresh_repo(repo, keys, bins=16)
        publisher(repo, keys).publish()
        root = work / "root.json"
        root.write_bytes((repo / "tuf" / "1.root.json").read_bytes())
        tampered = tamper(repo, work / "evil")
        with (
            static_mirror(work / "evil", work / "m1") as evil,
            static_mirror(repo, work / "m2") as honest,
            proxy_process([evil, honest], root, work / "cache") as (url, pid),
        ):
            if args.real:
                result = run_real(args.real, url, work, args.clients)
            else:
                result = run_generator(url, signed_projects(repo), args.clients, args.rounds)
            result["proxy_peak_rss_mib"] = round(peak_rss_mib(pid), 1)
            result["refused_on_malicious_mirror"] = refused_total(url)
        result = {"mode": args.real or "generator", "clients": args.clients, **result}
        result["tampered_wheels"] = tampered
        for key, value in result.items():
            print(f"  {key:<28} {value}")
        emit("proxy_load", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
