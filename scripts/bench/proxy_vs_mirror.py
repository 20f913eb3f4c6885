"""Benchmark: pip installing through the verifying proxy vs. straight from the mirror.

    python scripts/bench/proxy_vs_mirror.py [--packages 20] [--rounds 7] [--uv]

Builds and signs a sample index of real wheels (the demo projects plus ``bench-all``,
which depends on ``--packages`` more projects), serves it with a plain static server
(the untrusted mirror: nginx when installed, as mirrors run it; else ``python -m
http.server``, which speaks HTTP/1.0 with a backlog of 5 and is slow for uv's parallel
requests, flattering the proxy), starts ``tuf-pypi proxy`` over it,
and times the same ``pip install --target <fresh dir> --no-cache-dir bench-all
demo-app`` three ways, alternating, ``--rounds`` times each:

* ``mirror``: straight from the static mirror, no verification at all;
* ``proxy warm``: through a running proxy that has verified these files before (the
  steady state of a proxy serving a team or CI: pages are re-verified once per refresh
  interval, files once);
* ``proxy cold``: through a proxy started with an empty cache for this one install
  (TUF refresh, every page and file fetched and verified; the process start is not
  counted).

Prints the medians and the ratios to the mirror (goal: at most 1.3x), the same for the
best time of each (on a shared machine, other jobs' load lands on random rounds: the
best of several is the steadier comparison), then one JSON line. With ``--uv``, does
the same with ``uv pip install`` (much faster than pip, so the proxy's share is larger).
Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, fresh_repo, publisher

from tuf_pypi.demo import installer_env
from tuf_pypi.sample import DEFAULT_SAMPLE, SampleDist, build_index

GOAL = 1.3
_URL = re.compile(r"http://\S+/simple/")
_PORT = re.compile(r"port (\d+)")


def sample(packages: int) -> list[SampleDist]:
    extra = [SampleDist(f"bench-pkg-{i:02d}", "1.0") for i in range(packages)]
    top = SampleDist("bench-all", "1.0", requires=tuple(d.name for d in extra))
    return [*DEFAULT_SAMPLE, *extra, top]


@contextmanager
def process(command: list[str], pattern: re.Pattern[str]) -> Iterator[str]:
    """Run ``command`` until the block ends; yield what ``pattern`` found in its output."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=installer_env()
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = pattern.search(line)
            if match:
                break
        else:
            raise RuntimeError(f"{command[2:4]} did not start")
        # Keep reading its log, or the process blocks once the pipe is full.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield match.group(1) if pattern.groups else match.group(0)
    finally:
        proc.terminate()
        proc.wait(10)


_NGINX_CONF = """\
daemon off;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    {access_log}
    sendfile on;
    client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ index index.html; try_files $uri $uri/ =404; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: With ``timed_log``: when each answer ended and how long it took (``uv_phases.py``).
_TIMED_LOG = "log_format timed '$msec $request_time'; access_log {prefix}/access.log timed;"


@contextmanager
def static_mirror(repo: Path, work: Path, timed_log: bool = False) -> Iterator[str]:
    """nginx serving ``repo`` (or ``python -m http.server`` without nginx); yields its URL."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        if timed_log:
            raise RuntimeError("a timed access log needs nginx (scripts/install-system-deps)")
        print("nginx not found: the mirror is python -m http.server (slow for uv)")
        command = [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1"]
        with process([*command, "--directory", str(repo), "0"], _PORT) as port:
            yield f"http://127.0.0.1:{port}/"
        return
    prefix, port = work / "nginx", free_port()
    (prefix / "tmp").mkdir(parents=True)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dir
    access_log = _TIMED_LOG.format(prefix=prefix) if timed_log else "access_log off;"
    conf = _NGINX_CONF.format(user=user, prefix=prefix, port=port, root=repo, access_log=access_log)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def proxy(mirror: str, root: Path, cache: Path) -> Iterator[str]:
    command = [sys.executable, "-m", "tuf_pypi.cli", "proxy", "--mirror", mirror]
    command += ["--root", str(root), "--cache", str(cache), "--port", "0"]
    with process(command, _URL) as url:
        yield url


def installer(use_uv: bool) -> Callable[[str, Path, list[str]], list[str]]:
    if use_uv:
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
        return lambda url, target, reqs: [
            *(uv, "pip", "install", "--no-config", "--no-cache", "--python", sys.executable),
            *("--target", str(target), "--index-url", url, *reqs),
        ]
    return lambda url, target, reqs: [
        *(sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check"),
        *("--target", str(target), "--index-url", url, *reqs),
    ]


def timed_install(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=installer_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"install failed:\n{result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=20, help="dependencies of bench-all")
    parser.add_argument("--rounds", type=int, default=7, help="installs per way")
    parser.add_argument("--uv", action="store_true", help="time uv pip install instead of pip")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    try:
        repo, keys = work / "index", work / "keys"
        dists = sample(args.packages)
        build_index(repo, dists)
        fresh_repo(repo, keys, bins=16)
        publisher(repo, keys).publish()
        root = work / "root.json"
        root.write_bytes((repo / "tuf" / "1.root.json").read_bytes())
        command = installer(args.uv)
        wanted = ["bench-all", "demo-app"]
        times: dict[str, list[float]] = {"mirror": [], "proxy warm": [], "proxy cold": []}

        with static_mirror(repo, work) as mirror, proxy(mirror, root, work / "warm-cache") as warm:
            timed_install(command(warm, work / "warm-up", wanted))  # fills the proxy's cache
            for n in range(args.rounds):
                mirror_index = f"{mirror}simple/"
                times["mirror"].append(timed_install(command(mirror_index, work / f"m{n}", wanted)))
                times["proxy warm"].append(timed_install(command(warm, work / f"w{n}", wanted)))
                with proxy(mirror, root, work / f"cold-cache-{n}") as cold:
                    times["proxy cold"].append(timed_install(command(cold, work / f"c{n}", wanted)))

        base = statistics.median(times["mirror"])
        best = min(times["mirror"])
        tool = "uv" if args.uv else "pip"
        files = args.packages + 4  # bench-all and its dependencies, demo-app and its two
        print(f"{tool} install of {files} wheels, median of {args.rounds} (seconds):")
        result: dict[str, object] = {"installer": tool, "wheels": files, "rounds": args.rounds}
        for way, samples in times.items():
            median = statistics.median(samples)
            ratio = median / base
            best_ratio = min(samples) / best
            verdict = (
                ""
                if way == "mirror"
                else f"  {ratio:.2f}x  (best of each: {best_ratio:.2f}x; goal <= {GOAL}x)"
            )
            print(f"  {way:<11} {median:6.3f}  [{min(samples):.3f} .. {max(samples):.3f}]{verdict}")
            key = way.replace(" ", "_")
            result[f"{key}_s"] = round(median, 3)
            result[f"{key}_ratio"] = round(ratio, 2)
            result[f"{key}_best_s"] = round(min(samples), 3)
            result[f"{key}_best_ratio"] = round(best_ratio, 2)
        emit("proxy_vs_mirror", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
