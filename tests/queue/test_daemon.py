"""The publisher, in process: batches, crash recovery, fencing, superseded entries."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from tuf_pypi.queue import BatchLimits, LeadershipLost, deletion, open_queue, page_update
from tuf_pypi.queue.daemon import DaemonSettings, PublisherBusy, QueueDaemon
from tuf_pypi.repository import load_view, verify_repository
from tuf_pypi.testing.signed_repo import SignedRepo

from .pages import render_pages, sha256, signed_sha256


class Crash(BaseException):
    """The process dying: nothing after it runs."""


def _daemon(signed: SignedRepo, url: str, connect=None, **settings) -> QueueDaemon:
    return QueueDaemon(
        connect or (lambda: open_queue(url, application_name="tuf-pypi publisher")),
        signed.repo,
        lambda storage: signed.publisher(storage=storage),
        DaemonSettings(**settings),
    )


def _enqueue(url: str, project: str, number: int, **forms: bool) -> tuple[bytes, bytes]:
    html, json_page = render_pages(project, number)
    with open_queue(url) as db:
        db.ensure_schema()
        db.enqueue(
            page_update(
                project,
                html=html if forms.get("html", True) else None,
                json=json_page if forms.get("json", True) else None,
            )
        )
    return html, json_page


def _timestamp_version(signed: SignedRepo) -> int:
    return load_view(signed.storage).timestamp.signed.version


def _assert_valid(signed: SignedRepo) -> None:
    report = verify_repository(signed.storage, signed.clock())
    assert report.ok and not report.pending, (report.problems, report.pending)


def test_drain_signs_exactly_the_enqueued_bytes(make_repo, db_url) -> None:
    signed = make_repo()
    before = _timestamp_version(signed)
    html, json_page = _enqueue(db_url, "Fresh_Project", 1)
    lib_html, _ = _enqueue(db_url, "demo-lib", 2, json=False)
    with open_queue(db_url) as db:
        db.enqueue(page_update("demo-app", html=render_pages("demo-app", 3)[0]))
        db.enqueue(deletion("demo-app"))

    daemon = _daemon(signed, db_url)
    results = daemon.drain()

    assert len(results) == 1 and results[0].entries == 4 and results[0].wrote_metadata
    assert _timestamp_version(signed) == before + 1 == results[0].timestamp_version
    assert signed_sha256(signed.repo, "fresh-project") == sha256(html)
    assert signed_sha256(signed.repo, "fresh-project", "index.v1_json") == sha256(json_page)
    assert signed.page("fresh-project").read_bytes() == html
    assert signed_sha256(signed.repo, "demo-lib") == sha256(lib_html)
    assert signed_sha256(signed.repo, "demo-lib", "index.v1_json") is not None  # kept
    assert signed_sha256(signed.repo, "demo-app") is None
    assert not signed.page("demo-app").exists()
    _assert_valid(signed)
    with open_queue(db_url) as db:
        assert {r.timestamp_version for r in db.records()} == {before + 1}
        assert db.pending().depth == 0
    metrics = daemon.metrics
    assert metrics.batches.value() == 1 and metrics.updates.value() == 4
    assert metrics.lag.count() == 4 and metrics.depth.value() == 0
    assert metrics.status.version.value(role="timestamp") == before  # read before the batch


def test_one_snapshot_and_timestamp_per_batch(make_repo, sqlite_url) -> None:
    signed = make_repo()
    before = _timestamp_version(signed)
    for number in range(7):
        _enqueue(sqlite_url, f"project-{number}", number)
    results = _daemon(signed, sqlite_url, limits=BatchLimits(max_entries=3)).drain()
    assert [r.entries for r in results] == [3, 3, 1]
    assert [r.timestamp_version for r in results] == [before + 1, before + 2, before + 3]
    _assert_valid(signed)


def test_crash_after_publish_before_settle_is_re_applied_idempotently(make_repo, db_url) -> None:
    signed = make_repo()
    before = _timestamp_version(signed)
    html, _ = _enqueue(db_url, "demo-lib", 1)

    def crashing_connect():
        db = open_queue(db_url)

        def settle(*args, **kwargs):
            raise Crash("killed between the timestamp write and marking entries done")

        db.settle = settle  # type: ignore[method-assign]
        return db

    with pytest.raises(Crash):
        _daemon(signed, db_url, connect=crashing_connect).drain()
    assert _timestamp_version(signed) == before + 1  # published...
    with open_queue(db_url) as db:
        assert db.pending().depth == 1  # ...but not marked done
    _assert_valid(signed)

    results = _daemon(signed, db_url).drain()  # the next publisher
    assert len(results) == 1 and not results[0].wrote_metadata
    assert results[0].timestamp_version == before + 1 == _timestamp_version(signed)
    assert signed_sha256(signed.repo, "demo-lib") == sha256(html)
    with open_queue(db_url) as db:
        assert [r.timestamp_version for r in db.records()] == [before + 1]

    # A newer update that arrived meanwhile is published by the same recovery batch.
    with pytest.raises(Crash):
        _enqueue(db_url, "demo-lib", 2)
        _daemon(signed, db_url, connect=crashing_connect).drain()
    newest, _ = _enqueue(db_url, "demo-lib", 3)
    results = _daemon(signed, db_url).drain()
    assert results[0].entries == 2 and results[0].timestamp_version == before + 3
    assert signed_sha256(signed.repo, "demo-lib") == sha256(newest)
    _assert_valid(signed)


def test_a_publisher_that_lost_the_lock_writes_nothing(make_repo, sqlite_url) -> None:
    """The fence sees page writes too: not even the page reaches the served tree."""
    signed = make_repo()
    before = _timestamp_version(signed)
    _enqueue(sqlite_url, "demo-lib", 1)
    calls = []

    def losing_connect():
        db = open_queue(sqlite_url)
        check = db.check_leadership

        def check_leadership():
            calls.append(1)
            if len(calls) > 1:  # fine at the start of the batch, lost by its first write
                raise LeadershipLost("lost the publisher lock: connection reset")
            check()

        db.check_leadership = check_leadership  # type: ignore[method-assign]
        return db

    with pytest.raises(LeadershipLost):
        _daemon(signed, sqlite_url, connect=losing_connect).drain()
    assert _timestamp_version(signed) == before
    report = verify_repository(signed.storage, signed.clock())
    assert report.ok and not report.pending  # no page, no copy written
    with open_queue(sqlite_url) as db:
        assert db.pending().depth == 1
    _daemon(signed, sqlite_url).drain()
    _assert_valid(signed)


def test_late_committed_update_never_rolls_a_project_back(make_repo, pg_url) -> None:
    """An upload transaction that commits after a newer one was published is superseded."""
    import psycopg

    from tuf_pypi.queue import enqueue_pages

    signed = make_repo()
    with open_queue(pg_url) as db:
        db.ensure_schema()
    late = psycopg.connect(pg_url)  # its transaction stays open
    enqueue_pages(late, "demo-lib", html=render_pages("demo-lib", 1)[0])
    newer, _ = _enqueue(pg_url, "demo-lib", 2)
    _daemon(signed, pg_url).drain()
    late.commit()
    late.close()
    results = _daemon(signed, pg_url).drain()
    assert results[0].superseded == 1 and results[0].projects == 0
    assert signed_sha256(signed.repo, "demo-lib") == sha256(newer)
    _assert_valid(signed)


def test_drain_refuses_while_another_publisher_is_active(make_repo, db_url) -> None:
    signed = make_repo()
    with open_queue(db_url) as other:
        other.ensure_schema()
        assert other.try_lead()
        with pytest.raises(PublisherBusy, match="another publisher is active"):
            _daemon(signed, db_url).drain()


def test_run_publishes_until_stopped_and_hands_over(make_repo, db_url) -> None:
    signed = make_repo()
    stop = threading.Event()
    daemon = _daemon(signed, db_url, poll=0.05, limits=BatchLimits(max_wait=0.05))
    thread = threading.Thread(target=daemon.run, args=(stop,))
    thread.start()
    try:
        html, _ = _enqueue(db_url, "demo-lib", 1)
        deadline = time.monotonic() + 20
        while signed_sha256(signed.repo, "demo-lib") != sha256(html):
            assert time.monotonic() < deadline, "not published in time"
            time.sleep(0.05)
        assert daemon.metrics.active.value() == 1
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()
    assert daemon.metrics.active.value() == 0
    with open_queue(db_url) as db:
        assert db.try_lead()  # the lock was released on the way out
        assert db.pending().depth == 0
    _assert_valid(signed)


def test_active_publisher_re_signs_roles_before_they_expire(make_repo, sqlite_url) -> None:
    """With no uploads for most of a day, the timestamp must still be re-signed."""
    signed = make_repo()
    before = _timestamp_version(signed)
    signed.clock.advance(hours=20)  # the 1-day timestamp now expires within 12 h
    assert _daemon(signed, sqlite_url).drain() == []
    timestamp = load_view(signed.storage).timestamp.signed
    assert timestamp.version == before + 1
    assert timestamp.expires > signed.clock() + timedelta(hours=23)
    _daemon(signed, sqlite_url).drain()  # nothing more to do
    assert _timestamp_version(signed) == before + 1
