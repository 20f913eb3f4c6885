"""Full initial publish, tuf-pypi with default options against the python-tuf baseline.

    python scripts/bench/full_vs_baseline.py INDEX --work DIR [--rounds 3] [--bins 16384]

Both run in the same process, on the same disk, in alternating rounds; each round
starts from a clean tree (no copies, no metadata, no stat cache) after a ``sync``
and a pause, so one run does not pay for the other's write-back. tuf-pypi is
``init`` (16,384 bins) + ``publish`` with default options (every core, no
``--link-copies``); the baseline (``baseline.py``) writes without an fsync per
file and is charged one final ``sync``. Prints one JSON line per run and a summary
with medians and the ratio. Put INDEX and --work on the disk under test (not tmpfs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import baseline
from _common import OFFLINE, PASSPHRASE, emit, measure, now, publisher, remove_copies
from securesystemslib.signer import CryptoSigner

from tuf_pypi.repository import init_repository


def _settle() -> None:
    """Write back what the previous step left dirty, so it is not charged to the next."""
    os.sync()
    time.sleep(3)


def tuf_pypi_round(index: Path, work: Path, bins: int) -> dict:
    keys, state = work / "keys", work / "state"
    remove_copies(index)
    for path in (index / "tuf", keys, state):
        shutil.rmtree(path, ignore_errors=True)
    state.mkdir(parents=True)
    _settle()
    result: dict = {"bins": bins}
    with measure(result):
        t0 = time.perf_counter()
        init_repository(index, keys, PASSPHRASE, **OFFLINE, number_of_bins=bins, now=now())
        result["init_s"] = round(time.perf_counter() - t0, 3)
        report = publisher(index, keys, state_dir=state).publish()
    result["pages"] = len(report.added)
    result["publish_s"] = round(result["wall_s"] - result["init_s"], 3)
    return result


def baseline_round(index: Path, work: Path, bins: int, projects: list[str]) -> dict:
    out = work / "baseline-tuf"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    baseline.remove_copies(index, projects)
    _settle()
    result: dict = {"bins": bins, "final_sync_charged": True}
    signer = CryptoSigner.generate_ed25519()
    with measure(result):
        result["pages"] = baseline.full_publish(index, out, bins, signer, projects)
    baseline.remove_copies(index, projects)
    return result


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("index", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--bins", type=int, default=16384)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    projects = sorted(os.listdir(args.index / "simple"))
    ours, theirs = [], []
    for n in range(args.rounds):
        r = tuf_pypi_round(args.index, args.work, args.bins)
        emit("tuf_pypi_init_and_full_publish", {"round": n, **r})
        ours.append(r)
        r = baseline_round(args.index, args.work, args.bins, projects)
        emit("baseline_full_publish_plus_sync", {"round": n, **r})
        theirs.append(r)
    med = statistics.median
    summary = {
        "rounds": args.rounds,
        "projects": len(projects),
        "load_average": os.getloadavg(),
        "tuf_pypi_wall_s_median": med(r["wall_s"] for r in ours),
        "tuf_pypi_init_s_median": med(r["init_s"] for r in ours),
        "tuf_pypi_publish_s_median": med(r["publish_s"] for r in ours),
        "baseline_wall_s_median": med(r["wall_s"] for r in theirs),
    }
    summary["speedup_median"] = round(
        summary["baseline_wall_s_median"] / summary["tuf_pypi_wall_s_median"], 2
    )
    emit("full_publish_vs_baseline", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
