"""Where a cold uv install through the proxy spends its time, phase by phase.

    python scripts/bench/uv_phases.py [--rounds 7] [--packages 20]

The same index and install as ``proxy_vs_mirror.py --uv``, alternating straight from
nginx and through a proxy started with an empty cache (here in this process, so each
answer can be timed). Each install is cut into three phases: from starting uv to its
first request, from its first request to the last answer (the network phase), and from
the last answer to uv's exit. For nginx the requests come from its access log; for
the proxy from timing ``ProxyApp.respond``. Prints the medians per phase, then one JSON
line. The proxy's own CPU is not separated from uv's here: see docs/proxy.md for
``/proc/PID/stat`` and py-spy on a proxy process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import proxy_vs_mirror as bench
from _common import emit, fresh_repo, publisher

from tuf_pypi.client.health import MirrorHealth
from tuf_pypi.commands.proxy import warm_up
from tuf_pypi.metrics import Registry
from tuf_pypi.proxy import ProxyServer
from tuf_pypi.proxy.app import Headers, ProxyApp, Response
from tuf_pypi.sample import build_index

PHASES = ("start_to_first_ms", "network_ms", "last_to_exit_ms", "total_ms")


def _timed_respond(spans: list[tuple[float, float]]) -> Callable[..., Response]:
    respond = ProxyApp.respond

    def timed(self: ProxyApp, target: str, headers: Headers) -> Response:
        start = time.time()
        try:
            return respond(self, target, headers)
        finally:
            spans.append((start, time.time()))

    return timed


def _phases(started: float, ended: float, spans: list[tuple[float, float]]) -> list[float]:
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    return [
        (first - started) * 1e3,
        (last - first) * 1e3,
        (ended - last) * 1e3,
        (ended - started) * 1e3,
    ]


def _nginx_spans(log: Path) -> list[tuple[float, float]]:
    rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
    return [(float(end) - float(took), float(end)) for end, took in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--packages", type=int, default=20, help="dependencies of bench-all")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-uv-phases-"))
    repo, keys = work / "index", work / "keys"
    build_index(repo, bench.sample(args.packages))
    fresh_repo(repo, keys, bins=16)
    publisher(repo, keys).publish()
    root = (repo / "tuf" / "1.root.json").read_bytes()
    spans: list[tuple[float, float]] = []
    ProxyApp.respond = _timed_respond(spans)  # type: ignore[method-assign]
    command = bench.installer(True)
    wanted = ["bench-all", "demo-app"]
    rows: dict[str, list[list[float]]] = {"mirror": [], "proxy cold": []}
    requests: dict[str, int] = {}

    def install(url: str, target: Path) -> tuple[float, float]:
        started = time.time()
        bench.timed_install(command(url, target, wanted))
        return started, time.time()

    with bench.static_mirror(repo, work, timed_log=True) as mirror:
        log = work / "nginx" / "access.log"
        install(f"{mirror}simple/", work / "first")  # uv's and the page cache's first run
        for n in range(args.rounds):
            log.write_text("")
            started, ended = install(f"{mirror}simple/", work / f"m{n}")
            time.sleep(0.2)  # nginx writes its log line after the answer
            nginx = _nginx_spans(log)
            rows["mirror"].append(_phases(started, ended, nginx))
            requests["mirror"] = len(nginx)
            spans.clear()
            registry = Registry()
            server = ProxyServer(
                [mirror], root, work / f"cache-{n}", port=0, registry=registry,
                health=MirrorHealth([mirror], registry=registry),
            )  # fmt: skip
            threading.Thread(target=server.serve_forever, daemon=True).start()
            warm_up(server)  # as `tuf-pypi proxy` does once it listens
            started, ended = install(server.url, work / f"p{n}")
            server.shutdown()
            server.close()
            rows["proxy cold"].append(_phases(started, ended, spans))
            requests["proxy cold"] = len(spans)

    print(f"uv install, median of {args.rounds} (ms):")
    print(f"  {'':12s} {'start>first':>12s} {'network':>9s} {'last>exit':>10s} {'total':>7s}")
    medians = {}
    for way, values in rows.items():
        medians[way] = [statistics.median(v[i] for v in values) for i in range(len(PHASES))]
        cells = " ".join(f"{m:{w}.1f}" for m, w in zip(medians[way], (12, 9, 10, 7), strict=True))
        print(f"  {way:12s} {cells}   ({requests[way]} requests)")
    emit(
        "uv_phases",
        {
            "rounds": args.rounds,
            **{
                f"{way.replace(' ', '_')}_{phase}": round(value, 1)
                for way, values in medians.items()
                for phase, value in zip(PHASES, values, strict=True)
            },
        },
    )


if __name__ == "__main__":
    main()
