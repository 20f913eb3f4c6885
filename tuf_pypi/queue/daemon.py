"""The publisher process: drain the queue in batches and sign each batch, one at a time.

Each batch goes through the same steps, in this order:

1. read the oldest pending entries (:meth:`QueueDatabase.claim`) and fold them into
   the final state of each project they touch (:func:`plan_batch`);
2. ``Publisher.publish_pages``, the one batch path (``scripts/bench`` measures the
   same call): the pages are parsed, written to ``simple/<project>/index.*`` (or
   removed) with their copies, made durable, and signed: bins, one snapshot, one
   timestamp;
3. mark the entries published, recording the timestamp version (one transaction).

Why a crash anywhere is harmless: until step 3 commits, the entries stay pending, and
the next active publisher starts again from step 1 with the same entries (and maybe
newer ones behind them). Step 2 then writes the bytes that are already there and
finds every page already signed with that hash (a publish with no change writes no
metadata), or signs the newer state. Nothing is published twice with different
content and nothing is lost; DESIGN §5.2 covers a crash inside step 2. The
timestamp version recorded is the one that covers the entries either way.

Only the holder of the publisher lock runs batches. Before every write to the
served tree the storage asks the database whether this process still holds it
(:class:`FencedStorage`), so a publisher cut off from the database, or paused past
its lease and replaced, stops at its next write; see :class:`FencedStorage` for
what covers the instant between a check and a write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ..clock import utcnow
from ..errors import TufPypiError
from ..repository import (
    Publisher,
    RepositoryStorage,
    load_view,
    repository_status,
)
from ..repository.storage import WriteKind
from .batching import (
    BatchLimits,
    PendingSummary,
    QueueEntry,
    percentile,
    plan_batch,
)
from .database import LeadershipLost, QueueDatabase, QueueError, QueueUnavailable, redact
from .metrics import PublisherMetrics

__all__ = [
    "BatchResult",
    "DaemonSettings",
    "FencedStorage",
    "PublisherBusy",
    "QueueDaemon",
]

_log = logging.getLogger("tuf_pypi.publisher")
#: Failures with a message that says it all (no traceback in the log): tuf-pypi's
#: own errors and the operating system's (a full disk names the file). Anything
#: else is a bug and is logged with its traceback.
_EXPECTED = (TufPypiError, OSError)


class PublisherBusy(QueueError):
    """Another publisher holds the lock (``--once`` does not wait for it)."""


class FencedStorage(RepositoryStorage):
    """Repository storage that checks the publisher lock before every write.

    Every write to the served tree passes :meth:`before_write` (pages, copies,
    bins, offline role files, snapshot, timestamp, deletions), in this process:
    forked workers write nothing (``every_write_here``). The check is a round trip
    to the database, so it runs before the first write of each kind in a row, before
    every snapshot and timestamp, and otherwise at most every ``interval`` seconds.

    A check and the write after it cannot be one atomic step on a file system, so
    the writes themselves are made safe against a publisher deposed in between:
    versioned files are create-only (a successor's ``N.bin-XXXX.json`` is never
    replaced; the deposed one gets ``VersionTaken``), and ``timestamp.json`` is
    swapped only if it still holds the bytes this publish started from (else it is
    put back: ``ConcurrentWriter``). Pages written by a deposed publisher in that
    instant hold bytes an upload enqueued, which the successor re-applies from the
    queue at their newest version.
    """

    every_write_here = True

    def __init__(self, root: Path, check: Callable[[], None], interval: float = 0.25) -> None:
        super().__init__(root)
        self.check = check
        self.interval = interval
        self._checked = -float("inf")
        self._last_kind: WriteKind | None = None

    def before_write(self, kind: WriteKind, path: str) -> None:
        now = time.monotonic()
        if (
            kind in (WriteKind.SNAPSHOT, WriteKind.TIMESTAMP)
            or kind is not self._last_kind
            or now - self._checked >= self.interval
        ):
            self.check()
            self._checked = time.monotonic()
        self._last_kind = kind


@dataclass(frozen=True)
class DaemonSettings:
    """How the publisher paces itself (seconds)."""

    limits: BatchLimits = field(default_factory=BatchLimits)
    #: How often an idle active publisher looks for entries, and a standby for the lock.
    poll: float = 0.5
    #: How long published entries stay in the queue table (for audits) before purging.
    keep: float = 7 * 86400.0
    #: How often to re-sign expiring roles, purge old entries and update the expiry gauges.
    housekeeping: float = 300.0
    #: Re-sign online roles expiring within this many seconds (None: leave it to cron).
    refresh_within: float | None = 12 * 3600.0
    #: Longest wait between retries after a failure.
    max_backoff: float = 30.0
    #: A standby takes over from an active publisher silent for this long (see
    #: ``database.py``); it must be well above ``poll`` and the fence interval.
    lease: float | None = 30.0


@dataclass(frozen=True)
class BatchResult:
    """What one batch did."""

    entries: int
    projects: int
    superseded: int
    timestamp_version: int
    wrote_metadata: bool
    lags: tuple[float, ...]
    seconds: float

    def summary(self) -> str:
        signed = (
            f"timestamp v{self.timestamp_version}"
            if self.wrote_metadata
            else f"already signed (timestamp v{self.timestamp_version})"
        )
        lag = ""
        if self.lags:
            p50, p99 = percentile(self.lags, 50), percentile(self.lags, 99)
            lag = f"; lag p50 {p50:.2f} s, p99 {p99:.2f} s"
        extra = f", {self.superseded} superseded" if self.superseded else ""
        return (
            f"published {self.entries} updates of {self.projects} projects{extra}: "
            f"{signed} in {self.seconds:.2f} s{lag}"
        )


class QueueDaemon:
    """Runs batches while this process holds the publisher lock; stands by otherwise.

    ``connect`` opens a queue connection (called again after a connection is lost);
    ``make_publisher`` builds the :class:`Publisher` over the storage given (keys
    are opened once per process, not per batch).
    """

    def __init__(
        self,
        connect: Callable[[], QueueDatabase],
        repo: Path,
        make_publisher: Callable[[RepositoryStorage], Publisher],
        settings: DaemonSettings | None = None,
        metrics: PublisherMetrics | None = None,
        make_storage: Callable[[Callable[[], None]], RepositoryStorage] | None = None,
    ) -> None:
        self.connect = connect
        self.settings = settings or DaemonSettings()
        self.metrics = metrics or PublisherMetrics()
        # ``make_storage`` (given the fence check): another backend, fenced the same way.
        fenced = make_storage or (lambda check: FencedStorage(repo, check))
        self.storage = fenced(self._check_leadership)
        self.publisher = make_publisher(self.storage)
        self._queue: QueueDatabase | None = None
        # Kept here, not read from the connection: a session the server ended has
        # already forgotten it was leading, and the operator still needs "stepped down".
        self._active = False
        self._last_housekeeping = -float("inf")

    # -- the queue connection and the lock ---------------------------------------------

    def _connection(self) -> QueueDatabase:
        if self._queue is None:
            queue = self.connect()
            queue.lease = self.settings.lease
            try:
                queue.ensure_schema()
            except BaseException:
                queue.close()
                raise
            self._queue = queue
        return self._queue

    def _check_leadership(self) -> None:
        if self._queue is None:
            raise LeadershipLost("no connection to the queue")
        self._queue.check_leadership()

    def _disconnect(self) -> None:
        if self._queue is not None:
            queue, self._queue = self._queue, None
            try:
                queue.close()
            except QueueError as e:  # the connection is being dropped anyway
                _log.debug("closing the queue connection: %s", e)
        if self._active:
            _log.info("stepped down: no longer the active publisher")
        self._set_active(False)

    def _set_active(self, active: bool) -> None:
        self._active = active
        self.metrics.active.set(1 if active else 0)

    # -- one batch -------------------------------------------------------------------------

    def publish_batch(self, queue: QueueDatabase, entries: list[QueueEntry]) -> BatchResult:
        """Apply, sign and settle ``entries`` (see the module docstring for the order)."""
        started = time.monotonic()
        plan = plan_batch(entries, queue.latest_published([e.project for e in entries]))
        queue.check_leadership()
        report = self.publisher.publish_pages(plan.pages()) if plan.changes else None
        if report is not None:
            for skipped in report.skipped:
                _log.error("not signed: %s: %s", skipped.source, skipped.reason)
        if report is not None and report.timestamp_version is not None:
            version, wrote = report.timestamp_version, True
            self.metrics.last_publish.set(time.time())
        else:
            version, wrote = load_view(self.storage).timestamp.signed.version, False
        # publish_pages made the pages durable (its barrier) before returning.
        lags = queue.settle(plan.applied, plan.superseded, version)
        result = BatchResult(
            entries=len(entries),
            projects=len(plan.changes),
            superseded=len(plan.superseded),
            timestamp_version=version,
            wrote_metadata=wrote,
            lags=tuple(lags),
            seconds=time.monotonic() - started,
        )
        self.metrics.timestamp_version.set(version)
        self.metrics.batches.inc()
        self.metrics.updates.inc(len(entries))
        self.metrics.batch_seconds.observe(result.seconds)
        for lag in lags:
            self.metrics.lag.observe(lag)
        _log.info("%s", result.summary())
        return result

    # -- housekeeping ----------------------------------------------------------------------

    def _housekeeping(self, queue: QueueDatabase, force: bool = False) -> None:
        """Now and then: re-sign expiring roles and purge old entries (when active), and
        update the expiry gauges (on standby too).

        The active publisher re-signs because it holds the lock: a ``tuf-pypi refresh``
        from cron on another host would race it. Without uploads nothing else would
        re-sign the timestamp before it expires.
        """
        if not force and time.monotonic() - self._last_housekeeping < self.settings.housekeeping:
            return
        self._last_housekeeping = time.monotonic()
        if queue.leading:
            if self.settings.refresh_within is not None:
                refreshed = self.publisher.refresh(timedelta(seconds=self.settings.refresh_within))
                if refreshed.timestamp_version is not None:
                    _log.info(
                        "re-signed %d expiring roles: timestamp v%d",
                        len(refreshed.resigned),
                        refreshed.timestamp_version,
                    )
            purged = queue.purge(self.settings.keep)
            if purged:
                _log.info("purged %d entries published over %.0f s ago", purged, self.settings.keep)
        try:
            now = utcnow()
            status = repository_status(load_view(self.storage), now, timedelta(0), timedelta(0))
            self.metrics.status.update(status, now)
        except Exception as e:  # a gauge is not worth stopping the publisher for
            _log.warning("cannot read the repository status: %s", e)

    def _observe_queue(self, queue: QueueDatabase) -> PendingSummary:
        pending = queue.pending()
        self.metrics.depth.set(pending.depth)
        self.metrics.oldest.set(pending.oldest_age or 0.0)
        return pending

    # -- running ---------------------------------------------------------------------------

    def drain(self) -> list[BatchResult]:
        """Publish everything pending, then return (``--once``).

        Raises :class:`PublisherBusy` if another publisher is active: it drains the
        queue itself, and waiting for it could mean waiting forever.
        """
        queue = self._connection()
        try:
            if not queue.try_lead():
                raise PublisherBusy(
                    f"another publisher is active ({queue.leader() or 'unknown'}); "
                    "it publishes the queue"
                )
            self._set_active(True)
            self._housekeeping(queue, force=True)
            results = []
            while entries := queue.claim(self.settings.limits):
                results.append(self.publish_batch(queue, entries))
            self._observe_queue(queue)
            return results
        finally:
            self._disconnect()

    def run(self, stop: threading.Event) -> None:
        """Publish (or stand by) until ``stop`` is set; survives lost connections and failures.

        A batch in progress is finished before stopping. After a failure the
        publisher steps down, so a standby (perhaps on a healthier host) can try.
        """
        backoff = 0.0
        try:
            while not stop.is_set():
                try:
                    self._cycle(stop)
                    backoff = 0.0
                    continue
                except (QueueUnavailable, LeadershipLost) as e:
                    _log.warning("%s", e)
                except _EXPECTED as e:  # the message says it all
                    _log.error("batch failed, stepping down: %s", e)
                except Exception:
                    _log.exception("batch failed, stepping down")
                self.metrics.errors.inc()
                self._disconnect()
                backoff = min(max(1.0, backoff * 2), self.settings.max_backoff)
                stop.wait(backoff)
        finally:
            self._disconnect()

    def _cycle(self, stop: threading.Event) -> None:
        """One step: take the lock if free, then publish a batch if one is due."""
        queue = self._connection()
        if not queue.leading:
            if not queue.try_lead():
                self._set_active(False)
                self._observe_queue(queue)
                self._housekeeping(queue)
                stop.wait(self.settings.poll)
                return
            _log.info("active: publishing the queue at %s", redact(queue.url))
            self._set_active(True)
        self._housekeeping(queue)
        wait = self.settings.limits.wait_before_cut(self._observe_queue(queue))
        if wait > 0:
            stop.wait(min(wait, self.settings.poll))
            return
        self.publish_batch(queue, queue.claim(self.settings.limits))
