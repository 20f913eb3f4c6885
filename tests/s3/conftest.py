"""A real S3 API server on loopback (moto in server mode), spoken to only over HTTP.

``moto_server`` runs as its own process on a free port; tests talk to it with boto3
(as a deployment does) and read the bucket anonymously over plain HTTP with
path-style URLs (``http://127.0.0.1:PORT/BUCKET/PREFIX/...``), which moto serves
once the bucket policy allows public reads, as a CDN origin would be set up.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..repository.conftest import OFFLINE, OFFLINE_PASSPHRASE, PASSPHRASE

boto3 = pytest.importorskip("boto3")

__all__ = ["OFFLINE", "OFFLINE_PASSPHRASE", "PASSPHRASE", "Bucket", "S3Server"]
_names = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    moto = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    if moto is None:
        pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
    port = _free_port()
    proc = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    try:
        yield S3Server(endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment, as boto3's chain finds them; no user config."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@dataclass
class Bucket:
    server: S3Server
    name: str
    prefix: str = "index"

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    @property
    def http(self) -> str:
        """The index root served over HTTP (anonymous GETs, path-style)."""
        return f"{self.server.endpoint}/{self.name}/{self.prefix}"

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}"

    def objects(self) -> dict[str, bytes]:
        """Every object under the prefix, by path under the index root."""
        client = self.server.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=f"{self.prefix}/"
        ):
            for item in page.get("Contents", ()):
                body = client.get_object(Bucket=self.name, Key=item["Key"])["Body"].read()
                found[item["Key"][len(self.prefix) + 1 :]] = body
        return found

    def keys(self) -> list[str]:
        """Every object's path under the index root (one listing, no reads)."""
        client = self.server.client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=f"{self.prefix}/"
        )
        return [o["Key"][len(self.prefix) + 1 :] for p in pages for o in p.get("Contents", ())]

    def head(self, rel: str) -> dict:
        return self.server.client().head_object(Bucket=self.name, Key=self.key(rel))

    def put(self, rel: str, data: bytes) -> None:
        self.server.client().put_object(Bucket=self.name, Key=self.key(rel), Body=data)

    def delete(self, rel: str) -> None:
        self.server.client().delete_object(Bucket=self.name, Key=self.key(rel))

    def replace_all(self, objects: dict[str, bytes]) -> None:
        """Make the prefix hold exactly ``objects`` (restoring a saved state)."""
        for rel in self.objects():
            self.delete(rel)
        for rel, data in objects.items():
            self.put(rel, data)

    def upload_pages(self, index: Path) -> None:
        """What another tool does: write an index's pages into the bucket."""
        for page in sorted((index / "simple").rglob("index.*")):
            self.put(page.relative_to(index).as_posix(), page.read_bytes())

    def get_http(self, rel: str) -> bytes:
        with urllib.request.urlopen(f"{self.http}/{rel}", timeout=10) as answer:
            return answer.read()


@pytest.fixture
def bucket(s3_server: S3Server) -> Bucket:
    name = f"tuf-test-{os.getpid()}-{next(_names)}"
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    return Bucket(s3_server, name)
