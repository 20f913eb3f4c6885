"""Write a synthetic PyPI-like simple index in the bandersnatch layout.

    python scripts/bench/make_index.py OUT [--preset tiny|small|medium|large|pypi]
        [--projects N] [--links M] [--processes P] [--seed S]

Per project ``simple/<normalized>/index.html`` (PEP 503 + PEP 629 meta) and
``index.v1_json`` (PEP 691, api-version 1.1 with size/upload-time/versions). Files
per project are heavy tailed (log-normal, capped at 20,000): most projects have a
few files, a few have thousands, like PyPI (740k projects, ~12M files). Names mix
words, digits and separators; links carry sha256 in the URL fragment and are valid
for ``tuf_pypi.pages`` (anchor text = last path segment). No package files.

Page content is compact (short URLs, no metadata hashes) to keep the PyPI preset
near 6 GB of pages; project and link counts are the real ones.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import sys
import time

PRESETS = {
    # name: (projects, total file links)
    "tiny": (1_000, 16_000),
    "small": (10_000, 160_000),
    "medium": (100_000, 1_600_000),
    "large": (300_000, 4_900_000),
    "pypi": (740_000, 12_000_000),
}
_WORDS = [
    "py",
    "django",
    "flask",
    "data",
    "json",
    "http",
    "async",
    "test",
    "tools",
    "lib",
    "utils",
    "core",
    "api",
    "client",
    "sdk",
    "aws",
    "azure",
    "google",
    "cloud",
    "ml",
    "torch",
    "tensor",
    "numpy",
    "pandas",
    "sci",
    "plot",
    "web",
    "rest",
    "auth",
    "cli",
    "yaml",
    "toml",
    "parser",
    "kit",
    "db",
    "sql",
    "redis",
    "kafka",
    "grpc",
    "proto",
    "log",
    "config",
    "types",
    "stubs",
    "plugin",
    "ext",
    "fast",
    "micro",
    "open",
    "ai",
    "llm",
    "vector",
    "graph",
    "geo",
    "image",
    "audio",
    "text",
    "nlp",
    "crypto",
    "sec",
    "net",
    "dns",
    "mail",
]
_TAGS = ("py3-none-any.whl", "cp311-cp311-manylinux_2_17_x86_64.whl", "tar.gz")


def project_name(i: int) -> str:
    rng = random.Random(i * 7919)
    words = rng.sample(_WORDS, rng.choice((1, 2, 2, 3)))
    sep = rng.choice("--_.")
    return f"{sep.join(words)}{sep}{i:x}" if rng.random() < 0.9 else f"{''.join(words)}{i}"


def normalize(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def file_counts(projects: int, links: int, seed: int) -> list[int]:
    """Heavy-tailed counts (log-normal, sigma 1.6) scaled to sum to ``links``."""
    rng = random.Random(seed)
    raw = [min(math.exp(rng.gauss(0.0, 1.6)), 5_000.0) for _ in range(projects)]
    scale = links / sum(raw)
    counts = [max(1, min(20_000, round(r * scale))) for r in raw]
    diff = links - sum(counts)
    order = sorted(range(projects), key=lambda i: -counts[i])
    k = 0
    while diff:
        i = order[k % len(order)]
        step = 1 if diff > 0 else -1
        if counts[i] + step >= 1:
            counts[i] += step
            diff -= step
        k += 1
    return counts


def render(name: str, count: int, rng: random.Random) -> tuple[bytes, bytes]:
    norm = normalize(name)
    dist = norm.replace("-", "_")
    html = [
        '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1">'
        f"<title>Links for {norm}</title></head><body><h1>Links for {norm}</h1>"
    ]
    files = []
    versions: list[str] = []
    per_version = 1 + rng.randrange(3)
    for j in range(count):
        if j % per_version == 0:
            versions.append(f"{j // (per_version * 10)}.{(j // per_version) % 10}.{j % 7}")
        version = versions[-1]
        tag = _TAGS[j % per_version % 3]
        filename = f"{dist}-{version}-{tag}" if tag != "tar.gz" else f"{dist}-{version}.tar.gz"
        digest = f"{rng.getrandbits(256):064x}"
        url = f"../../packages/{digest[:2]}/{digest[2:4]}/{filename}"
        html.append(f'<a href="{url}#sha256={digest}">{filename}</a><br/>\n')
        files.append(
            {
                "filename": filename,
                "url": url,
                "hashes": {"sha256": digest},
                "size": 1000 + rng.randrange(10_000_000),
                "upload-time": "2024-01-02T03:04:05.000000Z",
            }
        )
    html.append("</body></html>\n")
    doc = {"meta": {"api-version": "1.1"}, "name": norm, "files": files, "versions": versions}
    return "".join(html).encode(), json.dumps(doc, separators=(",", ":")).encode()


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _work(args: tuple[str, int, int, list[int], int]) -> tuple[int, int]:
    out, start, stop, counts, seed = args
    written = 0
    for i in range(start, stop):
        name = project_name(i)
        rng = random.Random(seed * 1_000_003 + i)
        html, js = render(name, counts[i - start], rng)
        directory = f"{out}/simple/{normalize(name)}"
        os.makedirs(directory, exist_ok=True)
        _write(f"{directory}/index.html", html)
        _write(f"{directory}/index.v1_json", js)
        written += len(html) + len(js)
    return stop - start, written


def make_index(out: str, projects: int, links: int, processes: int, seed: int = 1) -> dict:
    counts = file_counts(projects, links, seed)
    os.makedirs(f"{out}/simple", exist_ok=True)
    step = 2000
    jobs = [
        (out, s, min(s + step, projects), counts[s : min(s + step, projects)], seed)
        for s in range(0, projects, step)
    ]
    start = time.perf_counter()
    total = 0
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            for _n, written in pool.imap_unordered(_work, jobs):
                total += written
    else:
        for job in jobs:
            total += _work(job)[1]
    counts_sorted = sorted(counts)
    return {
        "projects": projects,
        "links": sum(counts),
        "bytes": total,
        "seconds": round(time.perf_counter() - start, 1),
        "median_files": counts_sorted[len(counts) // 2],
        "p99_files": counts_sorted[int(len(counts) * 0.99)],
        "max_files": counts_sorted[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--projects", type=int)
    parser.add_argument("--links", type=int)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    projects, links = PRESETS[args.preset]
    projects = args.projects or projects
    links = args.links or (links if not args.projects else projects * 16)
    stats = make_index(args.out, projects, links, args.processes, args.seed)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
