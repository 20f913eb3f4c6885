"""Benchmark: how long ``pages.check_page`` takes per link and per page, per form.

    python scripts/bench/bench_pages.py [INDEX] [--pages N] [--repeat R] [--seed S]

``check_page`` is what the publisher runs on every page of a full publish (PyPI:
~1.5M pages, ~12M file links in each form), so its cost per link bounds how fast a
full publish can be. INDEX is a bandersnatch-style tree (``simple/<project>/``,
e.g. one written by ``make_index.py``); every page of it is read unless --pages
limits it (a random sample of N projects). Without INDEX, pages are generated in
memory by ``make_index.render`` with its heavy-tailed file counts.

Prints one JSON line per form: pages, links, µs per link and per page (best of
--repeat rounds over all pages), how many pages the fast path decided without the
full parser (``fast_path_pages``), and how many of those with every link in a run
checked by one regular expression (``run_pages``; the others needed per-link
Python code for some links). Links are counted with the full parser once, outside
the timing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import make_index

from tuf_pypi import pages

_FILES = {"html": "index.html", "json": "index.v1_json"}


def read_index(index: Path, limit: int | None, seed: int) -> dict[str, list[bytes]]:
    """The pages of ``index`` (or a random sample of ``limit`` projects), per form."""
    projects = sorted(p for p in (index / "simple").iterdir() if p.is_dir())
    if limit is not None and limit < len(projects):
        projects = sorted(random.Random(seed).sample(projects, limit))
    found: dict[str, list[bytes]] = {form: [] for form in _FILES}
    for project in projects:
        for form, name in _FILES.items():
            path = project / name
            if path.is_file():
                found[form].append(path.read_bytes())
    return found


def generate(count: int, seed: int) -> dict[str, list[bytes]]:
    """``count`` generated projects with the generator's file-count distribution."""
    found: dict[str, list[bytes]] = {form: [] for form in _FILES}
    counts = make_index.file_counts(count, count * 16, seed)
    for i, files in enumerate(counts):
        html, doc = make_index.render(make_index.project_name(i), files, random.Random(seed + i))
        found["html"].append(html)
        found["json"].append(doc)
    return found


def bench(form: str, data: list[bytes], repeat: int) -> dict:
    links = sum(len(pages.parse_page(page, form, "bench").files) for page in data)
    decided = runs = None  # unknown for versions of tuf_pypi before pages.decide
    if hasattr(pages, "decide"):
        # Which fast tier of check_page decides each page, if one does (pages.TIERS).
        tiers = [pages.decide(page, form, "bench", check=True, full=False).tier for page in data]
        decided = sum(tier is not None for tier in tiers)
        runs = tiers.count("runs")
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for page in data:
            pages.check_page(page, form, "bench")
        best = min(best, time.perf_counter() - start)
    return {
        "benchmark": "check_page",
        "form": form,
        "pages": len(data),
        "links": links,
        "fast_path_pages": decided,
        "run_pages": runs,
        "us_per_link": round(best * 1e6 / max(links, 1), 3),
        "us_per_page": round(best * 1e6 / max(len(data), 1), 2),
        "seconds": round(best, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", nargs="?", type=Path, help="an index tree with simple/")
    parser.add_argument("--pages", type=int, help="at most this many projects (random sample)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best one is shown")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.index is not None:
        found = read_index(args.index, args.pages, args.seed)
    else:
        found = generate(args.pages or 2000, args.seed)
    for form, data in found.items():
        if data:
            print(json.dumps(bench(form, data, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
