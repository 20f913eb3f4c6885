"""A real signed sample index, built by the real publisher, and the means to forge it.

Tests never hand-write a repository: ``build_index`` writes the sample pages and
wheels, ``init_repository`` and ``Publisher`` sign them. Forgeries (a re-signed
timestamp, a snapshot that lists an old bin) are made with python-tuf's Metadata API
and the repository's own keys, as an attacker holding that key would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer
from tuf.api.metadata import Metadata, MetaFile
from tuf.api.serialization.json import JSONSerializer

from tuf_pypi import layout
from tuf_pypi.keys import KeyDirectory
from tuf_pypi.repository import Publisher, init_repository
from tuf_pypi.sample import build_index

from .passphrases import OFFLINE

PASSPHRASE = "pw"
BINS = 16
#: Re-sign every online role, whatever its expiry.
EVERYTHING = timedelta(days=3650)

_COMPACT = JSONSerializer(compact=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Index:
    """A signed index on disk: ``repo/`` (what mirrors serve) and ``keys/``."""

    path: Path

    @classmethod
    def build(cls, path: Path, now: datetime | None = None) -> Index:
        index = cls(path)
        build_index(index.repo)
        init_repository(
            index.repo, index.keys, PASSPHRASE, **OFFLINE, number_of_bins=BINS, now=now or utcnow()
        )
        index.publisher().publish()
        return index

    @property
    def repo(self) -> Path:
        return self.path / "repo"

    @property
    def keys(self) -> Path:
        return self.path / "keys"

    @property
    def root_bytes(self) -> bytes:
        return self.read("tuf/1.root.json")

    def copy(self, dest: Path) -> Index:
        shutil.copytree(self.path, dest, symlinks=True)
        return Index(dest)

    def publisher(self, clock: Callable[[], datetime] = utcnow) -> Publisher:
        keys = KeyDirectory(self.keys, passphrase=lambda _label: PASSPHRASE)
        return Publisher(self.repo, keys, clock=clock)

    def resign(self, now: datetime | None = None) -> None:
        """Re-sign every bin, the snapshot and the timestamp (each version + 1) "at" ``now``."""
        self.publisher(lambda: now or utcnow()).refresh(EVERYTHING)

    # -- reading ---------------------------------------------------------------------

    def read(self, rel: str) -> bytes:
        return (self.repo / rel).read_bytes()

    def write(self, rel: str, data: bytes) -> None:
        (self.repo / rel).write_bytes(data)

    def metadata(self, rel: str) -> Metadata:
        return Metadata.from_bytes(self.read(rel))

    def role_path(self, role: str) -> str:
        """Served path of the current version of ``role``, as the timestamp names it."""
        if role == "timestamp":
            return "tuf/timestamp.json"
        snapshot_version = self.metadata("tuf/timestamp.json").signed.snapshot_meta.version
        snapshot = f"tuf/{snapshot_version}.snapshot.json"
        if role == "snapshot":
            return snapshot
        version = self.metadata(snapshot).signed.meta[f"{role}.json"].version
        return f"tuf/{version}.{role}.json"

    def bin_of(self, project: str, form: str = "index.v1_json") -> str:
        path = layout.page_target(project, form)
        return layout.bin_name(layout.bin_index(path, BINS), BINS)

    def page_bytes(self, project: str, form: str = "index.v1_json") -> bytes:
        return self.read(f"simple/{project}/{form}")

    def page_path(self, project: str, form: str = "index.v1_json") -> str:
        """Served path of the consistent-snapshot copy a client fetches."""
        data = self.page_bytes(project, form)
        return f"simple/{project}/{layout.consistent_name(form, sha256(data))}"

    def files(self, project: str) -> list[dict[str, Any]]:
        return json.loads(self.page_bytes(project))["files"]

    def wheel(self, project: str) -> tuple[str, bytes]:
        """Served path (``packages/...``) and bytes of the project's first file."""
        url = self.files(project)[0]["url"]
        rel = url.split("../../", 1)[1]
        return rel, self.read(rel)


def resign(md: Metadata, signer: Signer, **changes: Any) -> bytes:
    """``md`` with ``changes`` applied to its signed part, signed by ``signer`` only."""
    for name, value in changes.items():
        setattr(md.signed, name, value)
    md.signatures.clear()
    md.sign(signer)
    return md.to_bytes(_COMPACT)


def timestamp_for(index: Index, snapshot: bytes, signer: Signer, version: int) -> bytes:
    """A timestamp at ``version`` pinning ``snapshot`` (length, sha256, its version)."""
    md = index.metadata("tuf/timestamp.json")
    snapshot_version = Metadata.from_bytes(snapshot).signed.version
    meta = MetaFile(snapshot_version, length=len(snapshot), hashes={"sha256": sha256(snapshot)})
    return resign(md, signer, version=version, snapshot_meta=meta)
