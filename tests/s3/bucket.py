"""A bucket on the test S3 server, read and written the way a deployment does.

Objects are read back with boto3 or anonymously over HTTP (path-style URLs); the
fixtures that start the server and make a bucket are in conftest.py.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REPLACED_BY_DEMO_LIB", "Bucket", "S3Server", "replaced"]


@dataclass
class S3Server:
    endpoint: str

    def client(self):
        import boto3  # the s3 extra; tests/s3/conftest.py skips without it

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")


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


#: What one changed project replaces (everything else is created, never replaced).
REPLACED_BY_DEMO_LIB = {
    "tuf/timestamp.json",
    "simple/demo-lib/index.html",
    "simple/demo-lib/index.v1_json",
}


def replaced(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    """The paths of ``before`` whose bytes differ in ``after`` (two ``objects()``)."""
    return {rel for rel in before if before[rel] != after[rel]}
