"""Benchmarks 1-3: full publish, one-project publish, batched publishing.

    python scripts/bench/bench_publish.py INDEX --work DIR [--bins 16384]
        [--one N] [--cli N] [--batches B --batch-size S] [--skip-full] [--link-copies]

INDEX is an index made by make_index.py; metadata is written into INDEX/tuf and
keys/state into --work. Each figure is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    PASSPHRASE,
    emit,
    fresh_repo,
    measure,
    percentiles,
    publisher,
    remove_copies,
    touch_page,
)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("index", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--bins", type=int, default=16384)
    p.add_argument("--one", type=int, default=200, help="one-project publishes (in process)")
    p.add_argument("--cli", type=int, default=10, help="one-project publishes (CLI process)")
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--warmup-batches", type=int, default=3, help="cold batches, reported apart")
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--link-copies",
        action="store_true",
        help="page copies as hard links (publish --link-copies)",
    )
    p.add_argument("--skip-full", action="store_true", help="reuse the published repository")
    args = p.parse_args()
    index, keys = args.index, args.work / "keys"
    projects = sorted(os.listdir(index / "simple"))
    rng = random.Random(7)

    def full_publisher():
        return publisher(
            index,
            keys,
            state_dir=args.work / "state",
            processes=args.processes,
            link_copies=args.link_copies,
        )

    if not args.skip_full:
        removed = remove_copies(index)
        (args.work / "state").mkdir(parents=True, exist_ok=True)
        for f in (args.work / "state").glob("page-cache-*"):
            f.unlink()
        fresh_repo(index, keys, args.bins)
        result: dict = {
            "projects": len(projects),
            "bins": args.bins,
            "copies_removed": removed,
            "link_copies": args.link_copies,
        }
        with measure(result):
            report = full_publisher().publish()
        pages = len(report.added)
        result.update(pages=pages, pages_per_s=round(pages / result["wall_s"]))
        result["bins_signed"] = len(report.bins_signed)
        emit("full_publish_initial", result)

        result = {}
        with measure(result):
            report = full_publisher().publish()
        result.update(unchanged=report.unchanged, wrote=report.wrote_metadata)
        emit("full_publish_nothing_changed_stat_cache", result)

    # 2. one project, in process (a long-lived publisher, as a queue worker would be)
    pub = publisher(index, keys, state_dir=args.work / "state", link_copies=args.link_copies)
    first: dict = {}
    # Page edits differ from those of earlier runs on this index. (No '-' in the
    # comments: the fast HTML grammar takes only comments without one.)
    run = time.time_ns()
    touch_page(index, projects[0], f"{run} 0")
    with measure(first):
        pub.publish([projects[0]])
    emit("one_project_first_call_cold_state", first)
    samples = []
    for n in range(args.one):
        project = rng.choice(projects)
        touch_page(index, project, f"{run} {n + 1}")
        t0 = time.perf_counter()
        report = pub.publish([project])
        samples.append(time.perf_counter() - t0)
        assert report.changed, report
    if samples:
        emit("one_project_in_process", {"bins": args.bins, **percentiles(samples)})

    # 2b. one project as a whole `tuf-pypi publish --project` process
    env = {**os.environ, "TUF_PYPI_PASSPHRASE": PASSPHRASE}
    exe = str(Path(sys.executable).with_name("tuf-pypi"))
    samples = []
    for n in range(args.cli):
        project = rng.choice(projects)
        touch_page(index, project, f"{run} cli {n}")
        t0 = time.perf_counter()
        subprocess.run(
            [exe, "publish", "--repo", str(index), "--keys-dir", str(keys),
             "--state-dir", str(args.work / "state"), "--project", project],
            check=True, env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        samples.append(time.perf_counter() - t0)
    if samples:
        emit("one_project_cli_process", percentiles(samples))

    # 3. batched: page bytes in memory, one commit per batch, by a long-lived
    # publisher (a queue worker). The first batches also load the bins they touch
    # from disk; they are reported apart ("cold"), then the sustained rate.
    def make_batch(b: str, size: int) -> dict[str, bytes]:
        batch = {}
        for project in rng.sample(projects, size):
            path = index / "simple" / project / "index.html"
            data = path.read_bytes()
            cut = data.rfind(b"</body>")
            batch[f"simple/{project}/index.html"] = (
                data[:cut] + f"<!-- batch {b} -->".encode() + data[cut:]
            )
        return batch

    for label, count in (("cold", args.warmup_batches), ("sustained", args.batches)):
        samples, updates = [], 0
        for b in range(count):
            batch = make_batch(f"{run} {label} {b}", args.batch_size)
            t0 = time.perf_counter()
            report = pub.publish_pages(batch)
            samples.append(time.perf_counter() - t0)
            updates += len(report.changed) + len(report.added)
        if samples:
            emit(
                f"batched_publish_pages_{label}",
                {
                    "batch_size": args.batch_size,
                    "updates_per_s": round(updates / sum(samples)),
                    **{f"batch_{k}": v for k, v in percentiles(samples).items()},
                },
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
