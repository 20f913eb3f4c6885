"""Shared helpers of the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from tuf_pypi.keys import KDF_LIMITS, KeyDirectory
from tuf_pypi.repository import Publisher, init_repository

PASSPHRASE = "bench-passphrase"
#: Throwaway benchmark keys: offline keys under their own secret, with a cheap KDF.
OFFLINE = {
    "offline_passphrase": "bench-offline-passphrase",
    "offline_kdf": KDF_LIMITS["interactive"],
}


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def fresh_repo(index: Path, keys: Path, bins: int) -> None:
    """Remove earlier metadata, page copies are kept only if ``keep_copies``."""
    shutil.rmtree(index / "tuf", ignore_errors=True)
    shutil.rmtree(keys, ignore_errors=True)
    init_repository(index, keys, PASSPHRASE, **OFFLINE, number_of_bins=bins, now=now())


def remove_copies(index: Path) -> int:
    removed = 0
    with os.scandir(index / "simple") as projects:
        for entry in projects:
            for name in os.listdir(entry.path):
                if len(name) > 65 and name[64] == ".":
                    os.unlink(f"{entry.path}/{name}")
                    removed += 1
    return removed


def publisher(index: Path, keys: Path, **kwargs) -> Publisher:
    return Publisher(index, KeyDirectory(keys, passphrase=lambda _l: PASSPHRASE), **kwargs)


def rusage() -> tuple[float, float, int, int]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        me.ru_utime + me.ru_stime,
        kids.ru_utime + kids.ru_stime,
        me.ru_maxrss * 1024,
        kids.ru_maxrss * 1024,
    )


@contextmanager
def measure(result: dict):
    cpu0, kcpu0, _, _ = rusage()
    t0 = time.perf_counter()
    yield
    result["wall_s"] = round(time.perf_counter() - t0, 3)
    cpu1, kcpu1, rss, krss = rusage()
    result["cpu_s"] = round(cpu1 - cpu0 + kcpu1 - kcpu0, 2)
    result["peak_rss_mib"] = round(rss / 2**20)
    result["peak_rss_worker_mib"] = round(krss / 2**20)


def percentiles(samples_s: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "max_ms": round(ms[-1], 2),
    }


def touch_page(index: Path, project: str, n: object) -> bytes:
    """Change a project's HTML page (a comment), as an upload would; returns the bytes."""
    path = index / "simple" / project / "index.html"
    data = path.read_bytes()
    cut = data.rfind(b"</body>")
    head = data[:cut]
    if head.endswith(b"-->"):
        head = head[: head.rfind(b"<!--")]
    new = head + f"<!-- upload {n} -->".encode() + data[cut:]
    tmp = path.with_name(".bench-tmp")
    tmp.write_bytes(new)
    os.replace(tmp, path)
    return new


def emit(name: str, result: dict) -> None:
    print(json.dumps({"benchmark": name, **result}), flush=True)
