"""The queue table and the publisher lock, in PostgreSQL (many hosts) or SQLite (one host).

One table holds every update, pending or published. A pending row keeps the page
bytes; publishing it records the timestamp version that signed it and drops the
bytes (the sha256 columns stay, for audits), and rows are purged some days later.
A row is settled only *after* the timestamp that covers it is written, so a
publisher that dies in between leaves its rows pending and the next one re-applies
them, which changes nothing that is already signed (see ``daemon.py``).

Exactly one publisher is active at a time. In PostgreSQL that is whoever holds a
session-level advisory lock: the server releases it the moment that session ends
(process killed, host gone once TCP keepalives give up), so a standby on another host
takes over within seconds. A publisher that is alive but stuck (paused, swapping,
a stopped VM) keeps its session, so the lock also has a *lease*
(:attr:`QueueDatabase.lease`): the active publisher talks to the server at least
every few seconds (each poll, each fence check), and a standby that finds the
holder's session silent for longer than the lease ends that session
(``pg_terminate_backend``) and takes the lock. The deposed publisher's next fence
check then fails, before its next write. In SQLite it is an flock on a file beside
the database, released by the kernel when the process dies.

Nothing else here knows about TUF: the daemon decides what a batch means.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sqlite3
import sys
import threading
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import RepoError, SettingError
from .batching import BatchLimits, PendingSummary, QueueEntry
from .updates import PageUpdate

__all__ = [
    "TABLE",
    "EntryRecord",
    "LeadershipLost",
    "QueueDatabase",
    "QueueError",
    "QueueStats",
    "QueueUnavailable",
    "insert_update",
    "open_queue",
    "redact",
    "schema_statements",
]

TABLE = "tuf_pypi_queue"
_SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
# The first half of the advisory lock key: 'TUFP'. The second half is derived from
# the schema, so queues in different schemas of one database have different locks.
_LOCK_CLASS = 0x54554650

_SCHEMA_OBJECTS = (TABLE, f"{TABLE}_pending", f"{TABLE}_project")
_SCHEMA = {
    "postgresql": (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            id bigserial PRIMARY KEY,
            project text NOT NULL,
            deleted boolean NOT NULL DEFAULT false,
            page_html bytea,
            page_json bytea,
            html_sha256 text,
            json_sha256 text,
            size bigint NOT NULL,
            enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            published_at timestamptz,
            timestamp_version bigint
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_pending ON {TABLE} (id) WHERE published_at IS NULL",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_project ON {TABLE} (project, id)",
    ),
    "sqlite": (
        # AUTOINCREMENT: ids are never reused after old rows are purged.
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            page_html BLOB,
            page_json BLOB,
            html_sha256 TEXT,
            json_sha256 TEXT,
            size INTEGER NOT NULL,
            enqueued_at REAL NOT NULL DEFAULT {_SQLITE_NOW},
            published_at REAL,
            timestamp_version INTEGER
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_pending ON {TABLE} (id) WHERE published_at IS NULL",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_project ON {TABLE} (project, id)",
    ),
}

_INSERT = (
    f"INSERT INTO {TABLE} (project, deleted, page_html, page_json, html_sha256, json_sha256, size)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


class QueueError(RepoError):
    """The queue database refused or failed an operation; the message says which."""


class QueueUnavailable(QueueError):
    """The queue database cannot be reached (or the connection to it was lost)."""


class LeadershipLost(QueueError):
    """This publisher no longer holds the publisher lock and must stop writing."""


@dataclass(frozen=True)
class EntryRecord:
    """What the queue remembers of an entry once its bytes are gone: for audits.

    Times are seconds since the epoch by the database's clock; ``published_at`` is
    None while pending; ``timestamp_version`` is None for a superseded entry.
    """

    id: int
    project: str
    deleted: bool
    html_sha256: str | None
    json_sha256: str | None
    enqueued_at: float
    published_at: float | None
    timestamp_version: int | None


@dataclass(frozen=True)
class QueueStats:
    """What ``tuf-pypi queue status`` and monitoring show about a queue."""

    depth: int
    oldest_age: float | None
    published: int
    last_published_at: float | None
    last_timestamp_version: int | None
    leader: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "oldest_pending_seconds": self.oldest_age,
            "published": self.published,
            "last_published_at": self.last_published_at,
            "last_timestamp_version": self.last_timestamp_version,
            "active_publisher": self.leader,
        }


def schema_statements(dialect: str) -> tuple[str, ...]:
    """The ``CREATE ... IF NOT EXISTS`` statements of the queue, for an index's migrations.

    ``dialect`` is ``"postgresql"`` or ``"sqlite"``.
    """
    try:
        return _SCHEMA[dialect]
    except KeyError:
        raise SettingError(
            f"unknown dialect {dialect!r}: expected one of {sorted(_SCHEMA)}"
        ) from None


def _insert_params(update: PageUpdate) -> tuple[Any, ...]:
    return (
        update.project,
        update.delete,
        update.html,
        update.json,
        update.sha256("index.html"),
        update.sha256("index.v1_json"),
        update.size,
    )


def _placeholder(connection: Any) -> str:
    """The DB-API placeholder of a connection's driver (``?`` or ``%s``)."""
    package = type(connection).__module__.split(".")[0]
    style = getattr(sys.modules.get(package), "paramstyle", None)
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise QueueError(
        f"cannot tell the SQL parameter style of a {type(connection).__module__} connection: "
        "pass the DB-API driver connection (sqlite3, psycopg or psycopg2)"
    )


def insert_update(connection: Any, update: PageUpdate) -> int:
    """Insert ``update`` through a DB-API connection or cursor; returns the entry id.

    Runs in the caller's current transaction and does not commit: the entry becomes
    visible to the publisher when the caller commits, together with the upload.
    """
    sql = _INSERT.replace("%s", _placeholder(connection))
    cursor = connection.cursor() if hasattr(connection, "cursor") else connection
    cursor.execute(sql, _insert_params(update))
    row = cursor.fetchone()
    return int(row[0])


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def _one_line(error: BaseException) -> str:
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _identity() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class QueueDatabase(ABC):
    """One connection to the queue, for the upload hook or a publisher.

    SQL is written once with ``%s`` placeholders; a dialect supplies its clock, its
    epoch conversion and how it passes a list of values.
    """

    dialect: str
    _NOW: str  # the current time, as stored in the timestamp columns
    _EPOCH: str  # a timestamp column as seconds since the epoch ({col})
    _OLDER_THAN: str  # {col} older than %s seconds
    _EXISTS: str  # one row if the table or index %s exists

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._leading = False

    # -- connection ---------------------------------------------------------------

    @abstractmethod
    def _errors(self) -> contextlib.AbstractContextManager[None]:
        """Translate driver errors into QueueError / QueueUnavailable."""

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[None]: ...

    @abstractmethod
    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute one statement; rows if it returns any."""

    @abstractmethod
    def _in(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``column IN values`` as (SQL, params), in as many pieces as the driver needs."""

    def close(self) -> None:
        self.step_down()

    def __enter__(self) -> QueueDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _epoch(self, column: str) -> str:
        return self._EPOCH.format(col=column)

    # -- schema and the hook ------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the table and indexes unless they exist (safe to race).

        Existence is checked first: PostgreSQL's ``CREATE INDEX IF NOT EXISTS`` locks
        the table even when the index exists, which would queue every upload behind
        any upload transaction still open.
        """
        with self._lock, self._errors():
            if all(self._run(self._EXISTS, (name,)) for name in _SCHEMA_OBJECTS):
                return
            with self._transaction():
                self._lock_schema()
                for statement in schema_statements(self.dialect):
                    self._run(statement)

    def _lock_schema(self) -> None:  # noqa: B027 - SQLite's BEGIN IMMEDIATE serialises already
        """Serialise concurrent ``ensure_schema`` calls (within the transaction)."""

    def enqueue(self, update: PageUpdate) -> int:
        """Insert ``update`` in a transaction of its own and commit it."""
        with self._lock, self._errors(), self._transaction():
            return int(self._run(_INSERT, _insert_params(update))[0][0])

    # -- the publisher's side ------------------------------------------------------

    def pending(self) -> PendingSummary:
        """Entries waiting, and how long the oldest has waited (by the database's clock)."""
        now = self._epoch(self._NOW)
        sql = (
            f"SELECT COUNT(*), {now} - MIN({self._epoch('enqueued_at')}) "
            f"FROM {TABLE} WHERE published_at IS NULL"
        )
        with self._lock, self._errors():
            depth, age = self._run(sql)[0]
        return PendingSummary(int(depth), None if age is None else float(age))

    def claim(self, limits: BatchLimits) -> list[QueueEntry]:
        """The oldest pending entries, up to ``limits`` (at least one if any wait).

        Only the active publisher reads batches, so nothing is locked: an entry stays
        pending until :meth:`settle` marks it, whatever happens in between.
        """
        columns = "id, project, deleted, page_html, page_json, enqueued_at, size"
        sql = (
            f"SELECT id, project, deleted, page_html, page_json, {self._epoch('enqueued_at')} "
            f"FROM (SELECT {columns}, SUM(size) OVER (ORDER BY id) AS running "
            f"FROM (SELECT {columns} FROM {TABLE} WHERE published_at IS NULL "
            "ORDER BY id LIMIT %s) AS head) AS batch "
            "WHERE running - size < %s ORDER BY id"
        )
        with self._lock, self._errors():
            rows = self._run(sql, (limits.max_entries, limits.max_bytes))
        return [
            QueueEntry(int(i), p, _bytes(h), _bytes(j), bool(d), float(t))
            for i, p, d, h, j, t in rows
        ]

    def latest_published(self, projects: Sequence[str]) -> dict[str, int]:
        """Per project, the highest entry id already published (projects with none omitted)."""
        latest: dict[str, int] = {}
        with self._lock, self._errors():
            for where, params in self._in("project", sorted(set(projects))):
                sql = (
                    f"SELECT project, MAX(id) FROM {TABLE} "
                    f"WHERE {where} AND timestamp_version IS NOT NULL GROUP BY project"
                )
                latest.update((p, int(i)) for p, i in self._run(sql, params))
        return latest

    def settle(
        self, applied: Sequence[int], superseded: Sequence[int], timestamp_version: int
    ) -> list[float]:
        """Mark entries done, in one transaction; returns the publish lag of each applied one.

        Applied entries record the timestamp version that signed their project's
        state; superseded ones are marked done with no version.
        """
        lag = f"{self._epoch('published_at')} - {self._epoch('enqueued_at')}"
        lags: list[float] = []
        with self._lock, self._errors(), self._transaction():
            for ids, version in ((applied, timestamp_version), (superseded, None)):
                for where, params in self._in("id", list(ids)):
                    sql = (
                        f"UPDATE {TABLE} SET published_at = {self._NOW}, timestamp_version = %s, "
                        f"page_html = NULL, page_json = NULL "
                        f"WHERE {where} AND published_at IS NULL RETURNING {lag}"
                    )
                    rows = self._run(sql, [version, *params])
                    if version is not None:
                        lags.extend(float(row[0]) for row in rows)
        return lags

    def purge(self, keep_seconds: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` entries published more than ``keep_seconds`` ago."""
        older = self._OLDER_THAN.format(col="published_at")
        sql = (
            f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} "
            f"WHERE published_at IS NOT NULL AND {older} LIMIT %s)"
        )
        with self._lock, self._errors(), self._transaction():
            return len(self._run(sql + " RETURNING id", (keep_seconds, limit)))

    def records(self, after_id: int = 0, limit: int = 10_000) -> list[EntryRecord]:
        """Entries with an id above ``after_id``, oldest first, without their bytes."""
        sql = (
            f"SELECT id, project, deleted, html_sha256, json_sha256, "
            f"{self._epoch('enqueued_at')}, {self._epoch('published_at')}, timestamp_version "
            f"FROM {TABLE} WHERE id > %s ORDER BY id LIMIT %s"
        )
        with self._lock, self._errors():
            rows = self._run(sql, (after_id, limit))
        return [
            EntryRecord(
                int(i),
                p,
                bool(d),
                h,
                j,
                float(e),
                None if t is None else float(t),
                None if v is None else int(v),
            )
            for i, p, d, h, j, e, t, v in rows
        ]

    def stats(self) -> QueueStats:
        pending = self.pending()
        sql = (
            f"SELECT COUNT(*), MAX({self._epoch('published_at')}), MAX(timestamp_version) "
            f"FROM {TABLE} WHERE published_at IS NOT NULL"
        )
        with self._lock, self._errors():
            published, last, version = self._run(sql)[0]
        return QueueStats(
            pending.depth,
            pending.oldest_age,
            int(published),
            None if last is None else float(last),
            None if version is None else int(version),
            self.leader(),
        )

    # -- the publisher lock -----------------------------------------------------------

    @abstractmethod
    def try_lead(self) -> bool:
        """Become the active publisher if no one is; True if this one now is."""

    @abstractmethod
    def check_leadership(self) -> None:
        """Raise LeadershipLost unless this publisher still holds the lock."""

    @abstractmethod
    def step_down(self) -> None:
        """Release the lock (if held), so a standby can take over at once."""

    @abstractmethod
    def leader(self) -> str | None:
        """Who holds the lock (host and pid), or None."""

    #: Seconds of silence after which a standby may end the active publisher's
    #: session and take over (PostgreSQL; None: only when the session ends).
    lease: float | None = None

    @property
    def leading(self) -> bool:
        return self._leading


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


# -- SQLite -----------------------------------------------------------------------------


class _Sqlite(QueueDatabase):
    dialect = "sqlite"
    _NOW = _SQLITE_NOW
    _EPOCH = "{col}"
    _OLDER_THAN = "{col} < " + _SQLITE_NOW + " - %s"
    _EXISTS = "SELECT 1 FROM sqlite_master WHERE name = %s"
    # Well below SQLite's limit on bound parameters per statement.
    _CHUNK = 500

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(url)
        self.path = path
        self.lock_file = path.with_name(path.name + ".publisher.lock")
        self._lock_fd: int | None = None
        with self._errors():
            # Autocommit; transactions are explicit (BEGIN IMMEDIATE), so a writer
            # waits for the database lock up front rather than failing mid-way.
            self._conn = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._use_wal()

    def _use_wal(self, patience: float = 30.0) -> None:
        """Switch the database to WAL (persistent: done once per file).

        The switch needs the database to itself and SQLite does not wait for that
        (no busy handler), so two processes opening a new queue at once retry.
        """
        deadline = time.monotonic() + patience
        while self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            raise QueueUnavailable(f"queue database {self.path}: {_one_line(e)}") from None
        except sqlite3.Error as e:
            raise QueueError(f"queue database {self.path}: {_one_line(e)}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall()

    def _in(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        for start in range(0, len(values), self._CHUNK):
            chunk = list(values[start : start + self._CHUNK])
            yield f"{column} IN ({', '.join(['%s'] * len(chunk))})", chunk

    def close(self) -> None:
        super().close()
        self._conn.close()

    def try_lead(self) -> bool:
        if self._leading:
            return True
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise QueueError(f"cannot lock {self.lock_file}: {e.strerror}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"tuf-pypi publisher {_identity()}\n".encode())
        self._lock_fd, self._leading = fd, True
        return True

    def check_leadership(self) -> None:
        # The flock is the process's own: it is held for as long as this process lives.
        if not self._leading:
            raise LeadershipLost("this publisher is not the active one")

    def step_down(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._lock_fd, self._leading = None, False

    def leader(self) -> str | None:
        if self._leading:
            return f"tuf-pypi publisher {_identity()}"
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
        finally:
            os.close(fd)
        return None


# -- PostgreSQL -------------------------------------------------------------------------


class _Postgres(QueueDatabase):
    dialect = "postgresql"
    _NOW = "clock_timestamp()"
    _EPOCH = "extract(epoch from {col})::float8"
    _OLDER_THAN = "{col} < clock_timestamp() - %s * interval '1 second'"
    _EXISTS = "SELECT 1 WHERE to_regclass(%s) IS NOT NULL"

    def __init__(self, url: str, application_name: str) -> None:
        super().__init__(url)
        try:
            import psycopg
        except ImportError:
            raise QueueError(
                "a PostgreSQL queue needs psycopg: pip install 'tuf-pypi[postgres]'"
            ) from None
        self._psycopg = psycopg
        with self._errors():
            # Keepalives on both ends: if this host vanishes, the server ends the session
            # (and so releases the publisher lock) within ~15 s; if the server vanishes,
            # this side notices instead of waiting forever.
            self._conn = psycopg.connect(
                url,
                autocommit=True,
                application_name=f"{application_name} {_identity()}",
                connect_timeout=10,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
                tcp_user_timeout=15000,
            )
            for setting, value in (("idle", 5), ("interval", 2), ("count", 3)):
                self._conn.execute(f"SET tcp_keepalives_{setting} = {value}")
            schema = self._conn.execute("SELECT current_schema()").fetchone()
        name = f"{schema[0] if schema else 'public'}.{TABLE}"
        self._lock_key = (_LOCK_CLASS, zlib.crc32(name.encode()) & 0x7FFFFFFF)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        psycopg = self._psycopg
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            self._leading = False  # whatever happened, the session may be gone
            raise QueueUnavailable(f"queue database {redact(self.url)}: {_one_line(e)}") from None
        except psycopg.Error as e:
            raise QueueError(f"queue database {redact(self.url)}: {_one_line(e)}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.execute(sql, tuple(params))  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description is not None else []

    def _in(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        if values:
            yield f"{column} = ANY(%s)", [list(values)]

    def _lock_schema(self) -> None:
        self._run("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, self._lock_key[1] ^ 1))

    def close(self) -> None:
        with contextlib.suppress(QueueError):
            super().close()
        self._conn.close()

    def try_lead(self) -> bool:
        if self._leading:
            return True
        with self._lock, self._errors():
            (got,) = self._run("SELECT pg_try_advisory_lock(%s, %s)", self._lock_key)[0]
            if not got and self.lease is not None and self._end_silent_holder():
                (got,) = self._run("SELECT pg_try_advisory_lock(%s, %s)", self._lock_key)[0]
        self._leading = bool(got)
        return self._leading

    def _end_silent_holder(self) -> bool:
        """End the lock holder's session if it has been silent longer than the lease.

        Silent: not running a statement, and its last statement ended more than
        ``lease`` seconds ago by the server's clock. True if a session was ended
        (its lock is then free, or about to be).
        """
        sql = (
            "SELECT pg_terminate_backend(a.pid) FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 2 "
            "AND a.pid <> pg_backend_pid() AND a.state <> 'active' "
            "AND a.state_change < clock_timestamp() - %s * interval '1 second'"
        )
        ended = self._run(sql, (*self._lock_key, self.lease))
        if not any(row[0] for row in ended):
            return False
        for _ in range(50):  # the lock is released when the backend has exited
            (held,) = self._run(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = %s AND objid = %s AND objsubid = 2",
                self._lock_key,
            )[0]
            if not held:
                break
            time.sleep(0.02)
        return True

    def check_leadership(self) -> None:
        # A session-level advisory lock lasts as long as the session: if this
        # connection still answers, the lock is still ours.
        if not self._leading:
            raise LeadershipLost("this publisher is not the active one")
        try:
            with self._lock, self._errors():
                self._run("SELECT 1")
        except QueueError as e:
            self._leading = False
            raise LeadershipLost(f"lost the publisher lock: {e}") from None

    def step_down(self) -> None:
        if self._leading:
            self._leading = False
            with contextlib.suppress(QueueError), self._lock, self._errors():
                self._run("SELECT pg_advisory_unlock(%s, %s)", self._lock_key)

    def leader(self) -> str | None:
        sql = (
            "SELECT a.application_name, host(a.client_addr), a.pid FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 2"
        )
        with self._lock, self._errors():
            rows = self._run(sql, self._lock_key)
        if not rows:
            return None
        name, address, pid = rows[0]
        return f"{name} (from {address or 'a local socket'}, server pid {pid})"


def open_queue(url: str, *, application_name: str = "tuf-pypi") -> QueueDatabase:
    """Connect to the queue at ``url``.

    ``postgresql://user@host/db`` (libpq URL; ``postgres://`` too) for several hosts;
    ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` for one host.
    """
    scheme = url.partition(":")[0].lower()
    if scheme in ("postgresql", "postgres"):
        return _Postgres(url, application_name)
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            raise QueueError(f"--db {url}: expected sqlite:///relative/path or sqlite:////abs/path")
        path = Path(url[len("sqlite:///") :])
        if not path.parent.is_dir():
            raise QueueUnavailable(f"queue database {path}: directory {path.parent} does not exist")
        return _Sqlite(url, path)
    raise QueueError(
        f"--db {redact(url)}: unsupported database; use postgresql://... or sqlite:///path"
    )
