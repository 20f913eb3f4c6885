"""Benchmark: a full publish of an index into an object store, in objects per second.

    python scripts/bench/bench_s3.py INDEX --work DIR [--endpoint URL --bucket NAME]
        [--bins 1024] [--parallel 16] [--no-confirm]

INDEX is an index made by make_index.py (its pages are read from the local tree,
as ``publish --repo s3://... --s3-pages INDEX`` does). Without --endpoint a
``moto_server`` is started on a free loopback port (so the figure is moto's, on
this machine: a real store answers each request slower but takes many more at
once). Keys and state go into --work. Prints one JSON line: objects written,
seconds, objects/s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import OFFLINE, PASSPHRASE, emit, measure, now, publisher, remove_copies

from tuf_pypi.objectstore import ObjectStore, ObjectStoreURL
from tuf_pypi.repository import init_repository
from tuf_pypi.repository.s3 import S3Storage


def _moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    proc = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("index", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--endpoint", help="an S3 API endpoint (default: start moto_server)")
    p.add_argument("--bucket", default="tuf-pypi-bench")
    p.add_argument("--bins", type=int, default=1024)
    p.add_argument("--parallel", type=int, default=16)
    p.add_argument("--no-confirm", action="store_true", help="no read-back of each object")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = p.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    proc, endpoint = (None, args.endpoint) if args.endpoint else _moto()
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=args.bucket)
        shutil.rmtree(args.work, ignore_errors=True)
        shutil.rmtree(args.index / "tuf", ignore_errors=True)
        remove_copies(args.index)
        keys, state = args.work / "keys", args.work / "state"
        state.mkdir(parents=True)
        url = ObjectStoreURL.parse(f"s3://{args.bucket}/index")

        def storage() -> S3Storage:
            store = ObjectStore(
                url, endpoint_url=endpoint, parallel=args.parallel, confirm=not args.no_confirm
            )
            return S3Storage.open(store, args.index, pages_in_bucket=False)

        first = storage()
        init_repository(
            args.index,
            keys,
            PASSPHRASE,
            **OFFLINE,
            number_of_bins=args.bins,
            now=now(),
            storage=first,
        )
        full = storage()
        result: dict = {"projects": len(os.listdir(args.index / "simple")), "bins": args.bins}
        result.update(parallel=args.parallel, confirm=not args.no_confirm)
        with measure(result):
            report = publisher(
                args.index, keys, state_dir=state, storage=full, processes=args.processes
            ).publish()
        result["pages"] = len(report.added)
        result["objects"] = full.objects_written
        result["objects_per_s"] = round(full.objects_written / result["wall_s"], 1)
        result["endpoint"] = "moto_server (loopback)" if proc else endpoint
        emit("s3_full_publish", result)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # moto frees a large store slowly
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
