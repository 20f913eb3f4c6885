"""Benchmark 4: what a client downloads and how long it takes to verify pages.

    python scripts/bench/bench_client.py REPO [--projects 1,20] [--uploads 100]

python-tuf's ngclient (prefix_targets_with_hash=True) against REPO, through a
fetcher that reads the files and counts bytes raw and gzip-compressed (what a CDN
with compression sends). Cold: empty cache, trusted root only. Warm: the same
cache after --uploads new uploads published elsewhere in the index.
Run after bench_publish.py (it needs the published repository and its keys).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import Updater, UpdaterConfig
from tuf.ngclient.fetcher import FetcherInterface

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, publisher, touch_page


class CountingFetcher(FetcherInterface):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = self.gz = self.files = 0

    def _fetch(self, url: str):
        path = self.root / urlparse(url).path.lstrip("/")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DownloadHTTPError(f"not found: {url}", 404) from None
        self.files += 1
        self.raw += len(data)
        self.gz += len(gzip.compress(data, 6))
        return iter([data])


def run(repo: Path, cache: Path, targets: list[str], fetcher: CountingFetcher) -> float:
    (cache / "dl").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    updater = Updater(
        metadata_dir=str(cache),
        metadata_base_url="http://repo/tuf/",
        target_base_url="http://repo/",
        target_dir=str(cache / "dl"),
        config=UpdaterConfig(prefix_targets_with_hash=True),
        fetcher=fetcher,
        bootstrap=(repo / "tuf" / "1.root.json").read_bytes(),
    )
    updater.refresh()
    for target in targets:
        info = updater.get_targetinfo(target)
        assert info is not None, target
        updater.download_target(info)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("repo", type=Path)
    p.add_argument("--work", type=Path, required=True, help="the bench_publish.py --work dir")
    p.add_argument("--projects", default="1,20")
    p.add_argument("--uploads", type=int, default=100)
    args = p.parse_args()
    projects = sorted(os.listdir(args.repo / "simple"))
    rng = random.Random(11)
    tmp = Path(tempfile.mkdtemp(prefix="tuf-pypi-client-bench-"))
    try:
        for n in [int(x) for x in args.projects.split(",")]:
            chosen = rng.sample(projects, n)
            targets = [f"simple/{p}/index.html" for p in chosen]
            fetcher = CountingFetcher(args.repo)
            seconds = run(args.repo, tmp / f"cold{n}", targets, fetcher)
            pages_bytes = sum((args.repo / t).stat().st_size for t in targets)
            emit(
                "client_cold",
                {
                    "projects": n,
                    "seconds": round(seconds, 3),
                    "files": fetcher.files,
                    "bytes_raw": fetcher.raw,
                    "bytes_gzip": fetcher.gz,
                    "of_which_pages_raw": pages_bytes,
                    "metadata_raw": fetcher.raw - pages_bytes,
                },
            )
        # warm: uploads elsewhere, then the 1-project client refreshes
        chosen = rng.sample(projects, 1)
        targets = [f"simple/{chosen[0]}/index.html"]
        run(args.repo, tmp / "warm", targets, CountingFetcher(args.repo))
        pub = publisher(args.repo, args.work / "keys", state_dir=args.work / "state")
        pub.publish(_touched(args.repo, rng, projects, args.uploads))
        fetcher = CountingFetcher(args.repo)
        seconds = run(args.repo, tmp / "warm", targets, fetcher)
        emit(
            "client_warm_after_uploads",
            {
                "uploads": args.uploads,
                "seconds": round(seconds, 3),
                "files": fetcher.files,
                "bytes_raw": fetcher.raw,
                "bytes_gzip": fetcher.gz,
            },
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _touched(repo: Path, rng: random.Random, projects: list[str], n: int) -> list[str]:
    chosen = rng.sample(projects, n)
    for i, project in enumerate(chosen):
        touch_page(repo, project, 95_000 + i)
    return chosen


if __name__ == "__main__":
    sys.exit(main())
