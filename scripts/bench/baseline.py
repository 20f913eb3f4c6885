"""Benchmark 5: the same work done the straightforward way with python-tuf's Metadata API.

    python scripts/bench/baseline.py INDEX --work DIR [--bins 16384] [--one N]

Full publish: read + hash + parse every page, TargetFile objects in Metadata[Targets]
bins, ``Metadata.sign`` + ``JSONSerializer`` for each bin, a Snapshot of MetaFiles,
a Timestamp. Files are written by temp file + rename without an fsync each, and
the full publish is charged one final ``sync`` (what makes it durable), unless
``--fsync-each``. One-project publish: load timestamp, snapshot and
the bin with ``Metadata.from_bytes``, update, sign and serialize the bin, a new
snapshot and timestamp (this is what tuf-pypi's publisher did before issue 7).
Writes into its own metadata directory (--work/tuf), never into INDEX/tuf.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, measure, now, percentiles, touch_page

from tuf_pypi import layout, pages

SER = JSONSerializer(compact=True)


#: fsync every file (``--fsync-each``); by default one ``sync`` at the end instead.
FSYNC_EACH = False


def write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if FSYNC_EACH:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def full_publish(index: Path, out: Path, bins: int, signer, projects: list[str]) -> int:
    expires = now() + timedelta(days=7)
    bin_md = {layout.bin_name(i, bins): Metadata(Targets(expires=expires)) for i in range(bins)}
    count = 0
    for project in projects:
        for form in layout.PAGE_FORMS:
            path = f"simple/{project}/{form}"
            try:
                data = (index / path).read_bytes()
            except FileNotFoundError:
                continue
            pages.parse_page(data, form, path)
            digest = hashlib.sha256(data).hexdigest()
            write(index / "simple" / project / f"{digest}.baseline.{form}", data)
            target = TargetFile.from_data(path, data, ["sha256"])
            bin_md[layout.bin_name(layout.bin_index(path, bins), bins)].signed.targets[path] = (
                target
            )
            count += 1
    meta = {}
    for name, md in bin_md.items():
        md.sign(signer)
        write(out / f"1.{name}.json", md.to_bytes(SER))
        meta[f"{name}.json"] = MetaFile(1)
    snapshot = Metadata(Snapshot(expires=expires, meta=meta))
    snapshot.sign(signer)
    data = snapshot.to_bytes(SER)
    write(out / "1.snapshot.json", data)
    ts = Metadata(Timestamp(expires=expires, snapshot_meta=MetaFile(1, len(data))))
    ts.sign(signer)
    write(out / "timestamp.json", ts.to_bytes(SER))
    if not FSYNC_EACH:
        os.sync()  # charged: durable at the end, as tuf-pypi's publish is
    return count


def remove_copies(index: Path, projects: list[str]) -> None:
    """Remove the baseline's page copies so they do not pollute the index."""
    for project in projects:
        for name in os.listdir(index / "simple" / project):
            if ".baseline." in name:
                os.unlink(index / "simple" / project / name)


def one_project(index: Path, out: Path, bins: int, signer, project: str) -> None:
    ts = Metadata[Timestamp].from_bytes((out / "timestamp.json").read_bytes())
    sv = ts.signed.snapshot_meta.version
    snapshot = Metadata[Snapshot].from_bytes((out / f"{sv}.snapshot.json").read_bytes())
    expires = now() + timedelta(days=7)
    for form in layout.PAGE_FORMS:
        path = f"simple/{project}/{form}"
        data = (index / path).read_bytes()
        pages.parse_page(data, form, path)
        digest = hashlib.sha256(data).hexdigest()
        write(index / "simple" / project / f"{digest}.baseline.{form}", data)
        name = layout.bin_name(layout.bin_index(path, bins), bins)
        version = snapshot.signed.meta[f"{name}.json"].version
        md = Metadata[Targets].from_bytes((out / f"{version}.{name}.json").read_bytes())
        md.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        md.signed.version += 1
        md.signed.expires = expires
        md.sign(signer)
        write(out / f"{md.signed.version}.{name}.json", md.to_bytes(SER))
        snapshot.signed.meta[f"{name}.json"] = MetaFile(md.signed.version)
    snapshot.signed.version += 1
    snapshot.signed.expires = expires
    snapshot.sign(signer)
    data = snapshot.to_bytes(SER)
    write(out / f"{snapshot.signed.version}.snapshot.json", data)
    ts.signed.snapshot_meta = MetaFile(snapshot.signed.version, len(data))
    ts.signed.version += 1
    ts.sign(signer)
    write(out / "timestamp.json", ts.to_bytes(SER))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("index", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--bins", type=int, default=16384)
    p.add_argument("--one", type=int, default=50)
    p.add_argument("--limit", type=int, help="full publish of only the first N projects")
    p.add_argument("--fsync-each", action="store_true", help="fsync every file written")
    args = p.parse_args()
    global FSYNC_EACH
    FSYNC_EACH = args.fsync_each
    out = args.work / "baseline-tuf"
    out.mkdir(parents=True, exist_ok=True)
    signer = CryptoSigner.generate_ed25519()
    projects = sorted(os.listdir(args.index / "simple"))
    subset = projects[: args.limit] if args.limit else projects
    result: dict = {"projects": len(subset), "bins": args.bins}
    with measure(result):
        count = full_publish(args.index, out, args.bins, signer, subset)
    result.update(pages=count, pages_per_s=round(count / result["wall_s"]))
    if args.limit:
        result["extrapolated_wall_s_all_projects"] = round(
            result["wall_s"] * len(projects) / len(subset)
        )
    emit("baseline_full_publish", result)
    rng = random.Random(3)
    samples = []
    for n in range(args.one):
        project = rng.choice(subset)
        touch_page(args.index, project, 50_000 + n)
        t0 = time.perf_counter()
        one_project(args.index, out, args.bins, signer, project)
        samples.append(time.perf_counter() - t0)
    emit("baseline_one_project_in_process", {"bins": args.bins, **percentiles(samples)})
    remove_copies(args.index, subset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
