"""A deposed publisher (paused, then resumed without noticing) changes nothing of its
successor's: versioned files are create-only, the timestamp is swapped only over the
bytes the transaction started from (issue 17: the HA hole)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tuf_pypi.repository import verify_repository
from tuf_pypi.repository.changeset import ChangeSet, target
from tuf_pypi.repository.storage import ConcurrentWriter, RepositoryStorage, VersionTaken, WriteKind
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.signed_repo import targets_of


def _manifest(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in [*(repo / "tuf").iterdir(), *(repo / "simple").glob("*/*.index.*")]
    }


def test_a_deposed_publisher_cannot_replace_its_successors_bin(make_repo, tmp_path) -> None:
    signed = make_repo()
    old_page = signed.page("demo-lib").read_bytes()
    deposed = signed.publisher(state_dir=tmp_path / "host-a")
    successor = signed.publisher(state_dir=tmp_path / "host-b")
    with deposed.transaction() as state:  # loaded the state, then paused ...
        add_release(signed.repo, SampleDist("demo-lib", "3.0"))
        report = successor.publish(["demo-lib"])  # ... while its successor publishes
        assert report.changed and report.bins_signed
        before = _manifest(signed.repo)
        # Resumed, it signs what it saw before the pause, in the very same bin.
        path = "simple/demo-lib/index.html"
        stale = ChangeSet()
        stale.set(
            state.bin_of(path), path, target(hashlib.sha256(old_page).hexdigest(), len(old_page))
        )
        with pytest.raises(ConcurrentWriter, match=r"timestamp\.json was replaced"):
            deposed.commit(state, stale)
    after = _manifest(signed.repo)
    assert {name: after.get(name) for name in before} == before  # nothing replaced
    assert verify_repository(signed.storage, signed.clock()).ok
    # The successor's update is what clients get, and the next publish still works.
    assert successor.publish().timestamp_version is None
    assert "simple/demo-lib/index.html" in targets_of(signed.repo)


def test_create_only_kinds_never_replace_other_bytes(tmp_path) -> None:
    storage = RepositoryStorage(tmp_path)
    (tmp_path / "tuf").mkdir()
    name = tmp_path / "tuf" / "3.bin-0a.json"
    assert storage.put(WriteKind.BIN, name, b"successor's")
    assert not storage.put(WriteKind.BIN, name, b"successor's")  # the same bytes: fine
    with pytest.raises(VersionTaken, match="already exists with other bytes"):
        storage.put(WriteKind.BIN, name, b"deposed publisher's")
    assert name.read_bytes() == b"successor's"
    ts = tmp_path / "tuf" / "timestamp.json"
    storage.put(WriteKind.TIMESTAMP, ts, b"v1")
    storage.put(WriteKind.TIMESTAMP, ts, b"v2", expect=b"v1")
    with pytest.raises(ConcurrentWriter):
        storage.put(WriteKind.TIMESTAMP, ts, b"v2-stale", expect=b"v1")
    assert ts.read_bytes() == b"v2"
    assert sorted(p.name for p in (tmp_path / "tuf").iterdir()) == [
        "3.bin-0a.json",
        "timestamp.json",
    ]
