"""DESIGN §5: a crash at any write leaves a valid repository; one publisher at a time."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from tuf_pypi.repository import LockBusyError, RepositoryStorage, load_view, verify_repository
from tuf_pypi.repository.storage import TEMP_PREFIX, WriteKind, publisher_lock
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.crash import Crash, CrashingStorage
from tuf_pypi.testing.signed_repo import SignedRepo


def _pending_change(signed: SignedRepo) -> None:
    add_release(signed.repo, SampleDist("demo-lib", "3.0"))
    add_release(signed.repo, SampleDist("demo-new", "0.1"))


def test_crash_at_every_write_leaves_a_valid_repository(make_repo, tmp_path) -> None:
    base = make_repo()
    _pending_change(base)
    template = tmp_path / "template"
    shutil.copytree(base.repo, template)
    # Count the writes of a complete publish, on a copy.
    counting = RepositoryStorage(base.repo)
    base.publisher(storage=counting).publish()
    total = counting.writes
    assert total >= 6  # page copies, bins, snapshot, timestamp
    published = load_view(RepositoryStorage(base.repo))

    for crash_at in range(total):
        for torn in (False, True):
            repo = tmp_path / f"crash-{crash_at}-{torn}"
            shutil.copytree(template, repo)
            signed = SignedRepo(repo, base.keys_dir, base.clock)
            with pytest.raises(Crash):
                signed.publisher(storage=CrashingStorage(repo, crash_at, torn)).publish()
            # What is left is the previous state: valid, with the changes pending.
            report = verify_repository(signed.storage, signed.clock())
            assert report.ok, (crash_at, torn, report.problems)
            assert report.pending
            assert load_view(signed.storage).timestamp.signed.version == 2
            # The next publish finishes the job and cleans up the torn temp file.
            signed.publisher().publish()
            report = verify_repository(signed.storage, signed.clock())
            assert report.ok and not report.pending, (crash_at, report.problems)
            assert not list(repo.rglob(f"{TEMP_PREFIX}*"))
            view = load_view(signed.storage)
            assert view.snapshot.signed.meta == published.snapshot.signed.meta


def test_timestamp_is_the_last_write(make_repo) -> None:
    signed = make_repo()
    _pending_change(signed)
    order: list[str] = []

    class Recording(RepositoryStorage):
        every_write_here = True

        def before_write(self, kind: WriteKind, path: str) -> None:
            order.append(Path(path).name)

    signed.publisher(storage=Recording(signed.repo)).publish()
    kinds = [
        "page" if ".index." in n else "bin" if ".bin-" in n else n.split(".")[-2] for n in order
    ]
    assert kinds[-1] == "timestamp" and kinds[-2] == "snapshot"
    first_bin = kinds.index("bin")
    assert set(kinds[:first_bin]) == {"page"} and set(kinds[first_bin:-2]) == {"bin"}


def test_second_publisher_fails_fast_when_told_not_to_wait(make_repo) -> None:
    signed = make_repo()
    publisher = signed.publisher(wait_for_lock=False)
    with publisher_lock(publisher.lock_file), pytest.raises(LockBusyError, match="another"):
        publisher.publish()


def _publish_in_child(repo: str, keys: str, project: str, version: str, start) -> None:
    from tuf_pypi.keys import KeyDirectory
    from tuf_pypi.repository import Publisher
    from tuf_pypi.testing.passphrases import PASSPHRASE

    add_release(Path(repo), SampleDist(project, version))
    start.wait()
    Publisher(Path(repo), KeyDirectory(Path(keys), passphrase=lambda _: PASSPHRASE)).publish()


def test_concurrent_publishers_lose_nothing(make_repo) -> None:
    signed = make_repo()
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    children = [
        ctx.Process(
            target=_publish_in_child,
            args=(str(signed.repo), str(signed.keys_dir), project, "9.0", start),
        )
        for project in ("demo-app", "demo-extra", "demo-core")
    ]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    report = verify_repository(signed.storage, signed.clock())
    assert report.ok and not report.pending, (report.problems, report.pending)
    # Every change was published, each by a run that saw the previous one.
    view = load_view(signed.storage)
    assert 3 <= view.timestamp.signed.version <= 5
