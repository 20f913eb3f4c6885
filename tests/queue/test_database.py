"""The queue table and the publisher lock, against SQLite and a real PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest

from tuf_pypi.errors import SettingError
from tuf_pypi.queue import (
    BatchLimits,
    LeadershipLost,
    QueueError,
    QueueUnavailable,
    UpdateRejected,
    UploadQueue,
    enqueue_deletion,
    enqueue_pages,
    open_queue,
    page_update,
    schema_statements,
)

from .pages import render_pages, sha256


def _update(project: str, number: int):
    html, json_page = render_pages(project, number)
    return page_update(project, html=html, json=json_page)


def test_entries_round_trip_and_are_settled_once(db_url) -> None:
    with open_queue(db_url) as db:
        db.ensure_schema()
        db.ensure_schema()  # idempotent
        first = db.enqueue(_update("alpha", 1))
        second = db.enqueue(_update("beta", 2))
        db.enqueue(_update("alpha", 3))
        pending = db.pending()
        assert pending.depth == 3 and pending.oldest_age is not None and pending.oldest_age >= 0

        entries = db.claim(BatchLimits(max_entries=2))
        assert [e.id for e in entries] == [first, second]
        assert entries[0].project == "alpha" and not entries[0].delete
        assert (entries[0].html, entries[0].json) == render_pages("alpha", 1)

        lags = db.settle([first], [second], timestamp_version=7)
        assert len(lags) == 1 and 0 <= lags[0] < 60
        assert db.settle([first], [], timestamp_version=8) == []  # already settled
        assert db.latest_published(["alpha", "beta", "gamma"]) == {"alpha": first}
        assert db.pending().depth == 1

        records = db.records()
        assert [(r.id, r.timestamp_version) for r in records] == [
            (first, 7),
            (second, None),
            (records[2].id, None),
        ]
        assert records[0].html_sha256 == sha256(render_pages("alpha", 1)[0])
        assert records[1].published_at is not None and records[2].published_at is None
        stats = db.stats()
        assert (stats.depth, stats.published, stats.last_timestamp_version) == (1, 2, 7)
        assert db.purge(keep_seconds=3600) == 0
        assert db.purge(keep_seconds=-60) == 2  # all published before a minute from now
        assert [r.id for r in db.records()] == [records[2].id]


def test_batches_are_limited_by_bytes_but_take_at_least_one(db_url) -> None:
    with open_queue(db_url) as db:
        db.ensure_schema()
        for number in range(4):
            db.enqueue(_update("alpha", number))
        size = _update("alpha", 0).size
        assert len(db.claim(BatchLimits(max_bytes=1))) == 1
        assert len(db.claim(BatchLimits(max_bytes=2 * size))) == 2
        assert len(db.claim(BatchLimits())) == 4


def test_exactly_one_publisher_holds_the_lock(db_url) -> None:
    with open_queue(db_url) as one, open_queue(db_url) as two:
        one.ensure_schema()
        assert one.leader() is None
        assert one.try_lead() and one.try_lead()  # re-entrant for its holder
        assert not two.try_lead()
        assert "tuf-pypi" in (two.leader() or "") and " pid " in (two.leader() or "")
        one.check_leadership()
        with pytest.raises(LeadershipLost):
            two.check_leadership()
        one.step_down()
        assert two.try_lead()
        assert not one.try_lead()


def test_postgres_lock_goes_with_the_session(pg_url) -> None:
    """A killed session (what a dead host looks like) frees the lock at once."""
    import psycopg

    with open_queue(pg_url) as leader, open_queue(pg_url) as standby:
        leader.ensure_schema()
        assert leader.try_lead()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE 'tuf-pypi %%' AND pid <> pg_backend_pid() "
                "AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')"
            )
        with pytest.raises(LeadershipLost, match="lost the publisher lock"):
            leader.check_leadership()
        assert not leader.leading
        assert standby.try_lead()


def test_hook_enqueues_in_the_callers_sqlite_transaction(tmp_path) -> None:
    path = tmp_path / "index.db"
    with open_queue(f"sqlite:///{path}") as db:
        db.ensure_schema()
    html, json_page = render_pages("alpha", 1)
    connection = sqlite3.connect(path)
    enqueue_pages(connection, "Alpha", html=html, json=json_page)
    connection.rollback()  # the upload failed: nothing is queued
    entry = enqueue_pages(connection, "alpha", html=html)
    gone = enqueue_deletion(connection.cursor(), "beta")
    connection.commit()
    with open_queue(f"sqlite:///{path}") as db:
        assert [(r.id, r.project, r.deleted) for r in db.records()] == [
            (entry, "alpha", False),
            (gone, "beta", True),
        ]


def test_hook_enqueues_in_the_callers_postgres_transaction(pg_url) -> None:
    import psycopg

    with open_queue(pg_url) as db:
        db.ensure_schema()
    html, _ = render_pages("alpha", 1)
    with psycopg.connect(pg_url) as connection:  # not autocommit: a transaction is open
        enqueue_pages(connection, "alpha", html=html)
        connection.rollback()
        with connection.transaction():
            entry = enqueue_pages(connection, "alpha", html=html)
    with open_queue(pg_url) as db:
        assert [r.id for r in db.records()] == [entry]
        assert db.claim(BatchLimits())[0].html == html


def test_hook_refuses_bad_input_before_any_sql(sqlite_url) -> None:
    class Unused:
        def cursor(self):
            raise AssertionError("no SQL for a rejected page")

    with pytest.raises(UpdateRejected, match="not a valid project name"):
        enqueue_pages(Unused(), "no/slash", html=b"<html></html>")
    with pytest.raises(QueueError, match="parameter style"):
        enqueue_pages(object(), "alpha", html=render_pages("alpha", 1)[0])
    with (
        UploadQueue(sqlite_url, max_bytes=10) as queue,
        pytest.raises(UpdateRejected, match="over"),
    ):
        queue.enqueue_pages("alpha", html=render_pages("alpha", 1)[0])


def test_upload_queue_commits_each_entry(db_url) -> None:
    html, json_page = render_pages("alpha", 1)
    with UploadQueue(db_url) as queue:
        first = queue.enqueue_pages("alpha", html=html, json=json_page)
        second = queue.enqueue_deletion("alpha")
    with open_queue(db_url) as db:
        assert [e.id for e in db.claim(BatchLimits())] == [first, second]


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("mysql://x/y", QueueError, "unsupported database"),
        ("sqlite://relative", QueueError, "expected sqlite:///"),
        ("sqlite:////nonexistent/dir/q.db", QueueUnavailable, "does not exist"),
    ],
)
def test_bad_database_urls(url, error, message) -> None:
    with pytest.raises(error, match=message):
        open_queue(url)


def test_unreachable_postgres_is_one_line_without_the_password(postgres_server) -> None:
    with pytest.raises(QueueUnavailable) as err:
        open_queue("postgresql://tuf:secret@127.0.0.1:1/postgres?connect_timeout=2")
    assert "secret" not in str(err.value) and "tuf:***@" in str(err.value)
    assert "\n" not in str(err.value)


def test_schema_statements_for_migrations() -> None:
    assert "bigserial" in schema_statements("postgresql")[0]
    with pytest.raises(SettingError, match="unknown dialect"):
        schema_statements("oracle")
