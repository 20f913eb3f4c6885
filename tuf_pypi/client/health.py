"""Mirror health: every refused answer shown, dead and hung mirrors remembered.

Failover hides failures from the caller: when the first mirror serves a tampered page
and the second an honest one, the caller only sees the honest page. That is what
failover is for, but an operator must still learn that a mirror served an attack
(DESIGN.md §6: a refused answer is never silent). So every attempt on a mirror goes
through one :class:`MirrorHealth`, which

* logs each refused answer at WARNING (mirror, what, why, attack class), counts it per
  mirror and kind (in a :class:`~tuf_pypi.metrics.Registry`, when given one) and keeps
  it in :attr:`MirrorHealth.refusals` for ``--json`` outputs and ``tuf-pypi run``;
* remembers mirrors that are down (connection refused, HTTP 5xx) or hung (timeouts):
  after a failure, a mirror is *backed off* for ``backoff`` seconds, doubling with each
  consecutive failure up to ``max_backoff``; backed-off mirrors are tried after the
  healthy ones (never skipped: when every mirror is backed off, all are still tried in
  order), and the first success makes a mirror healthy again. State changes are logged.
* bounds the total time of one operation: once ``budget`` seconds went by, no further
  mirror is started (the attempt in progress is bounded by the fetcher's timeouts and
  minimum rate), and the mirrors not tried are listed as such in the error.

A mirror serving data that fails verification is *not* backed off: it answered, and
each of its answers is judged (and shown) on its own.

Pure bookkeeping (no I/O but logging); the clock is injected so back-off is testable.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from ..metrics import Registry
from .errors import (
    AllMirrorsFailedError,
    MirrorError,
    MirrorFailure,
    TooSlowError,
    UnavailableError,
)

__all__ = ["DEFAULT_BUDGET", "Attempt", "MirrorHealth", "Refusal"]

#: Seconds one operation may spend across mirrors before no further mirror is tried.
DEFAULT_BUDGET = 60.0
#: Seconds a failed mirror is backed off the first time (doubling up to the maximum).
DEFAULT_BACKOFF = 30.0
DEFAULT_MAX_BACKOFF = 600.0
#: Refusals kept in memory (the oldest are dropped; logs and metrics keep counting).
_KEEP = 1000

_log = logging.getLogger("tuf_pypi.client.health")
_USERINFO = re.compile(r"//[^/@\s]+@")

T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """One mirror's failed answer: ``mirror`` (base URL), ``what`` was asked, ``reason``.

    ``kind`` is the error's kind and ``attack`` whether it names an attack class of the
    TUF threat model (anything else is a mirror that could not be reached).
    """

    mirror: str
    what: str
    kind: str
    attack: bool
    reason: str
    error: MirrorError | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "mirror": self.mirror,
            "what": self.what,
            "kind": self.kind,
            "attack": self.attack,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        label = f"attack class: {self.kind}" if self.attack else self.kind
        reason = self.reason.removeprefix(f"{self.what}: ")  # errors often start with it
        return f"mirror {self.mirror}: {self.what}: {reason} ({label})"


@dataclass
class _State:
    failures: int = 0  # consecutive failures that mark a mirror down
    retry_at: float = 0.0
    last_error: str = ""


def is_outage(error: MirrorError) -> bool:
    """Whether ``error`` says the mirror is down or hung (not: it lacks one file)."""
    if isinstance(error, TooSlowError):
        return True
    if isinstance(error, UnavailableError):
        status = error.http_status
        return status is None or status >= 500 or status == 429
    return False


class MirrorHealth:
    """Health and refusals of a set of mirrors, shared by every client of one process.

    ``mirrors`` are base URLs: a URL under one of them counts for that mirror; any
    other URL (a file link to another host) counts for its origin. Thread-safe.
    """

    def __init__(
        self,
        mirrors: Sequence[str] = (),
        *,
        registry: Registry | None = None,
        budget: float | None = DEFAULT_BUDGET,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mirrors = tuple(_base(url) for url in mirrors)
        self.budget = budget
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}
        self._answered: set[str] = set()  # mirrors (and origins) that answered at least once
        self._refusals: deque[Refusal] = deque(maxlen=_KEEP)
        self._metrics = _Metrics(registry) if registry is not None else None
        for mirror in self.mirrors:
            self._set_up_gauge(mirror, True)

    # -- what happened ---------------------------------------------------------------

    def mirror_of(self, url: str) -> str:
        """The mirror a URL belongs to (the longest matching base URL), else its origin."""
        matches = [m for m in self.mirrors if url.startswith(m)]
        if matches:
            return max(matches, key=len)
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}/" if parts.netloc else url

    def failed(self, url: str, error: MirrorError, what: str) -> Refusal:
        """Record that the mirror of ``url`` failed ``what`` with ``error``."""
        mirror = self.mirror_of(url)
        shown = _redacted(mirror)
        reason = _redacted(_printable(error.message))
        refusal = Refusal(shown, _printable(what), error.kind, error.attack, reason, error)
        with self._lock:
            self._refusals.append(refusal)
            went_down = self._mark_failed(mirror, refusal) if is_outage(error) else None
        if self._metrics is not None:
            self._metrics.failed(refusal)
        if error.attack:
            _log.warning("refused %s", refusal)
        else:
            _log.info("failed: %s", refusal)
        if went_down is not None:
            _log.warning(
                "mirror %s is down (%d consecutive failures, last: %s); trying it after the "
                "other mirrors for %.0fs",
                shown,
                *went_down,
            )
            self._set_up_gauge(mirror, False)
        return refusal

    def succeeded(self, url: str) -> None:
        """Record that the mirror of ``url`` answered; a down mirror is up again."""
        mirror = self.mirror_of(url)
        with self._lock:
            state = self._states.pop(mirror, None)
            first = mirror not in self._answered
            if first:
                self._answered.add(mirror)
        if state is not None and state.failures:
            _log.warning(
                "mirror %s is up again after %d failures", _redacted(mirror), state.failures
            )
            self._set_up_gauge(mirror, True)
        # Only when it changes (or appears): this runs for every file and page fetched.
        if self._metrics is not None and (state is not None or first):
            self._metrics.consecutive.set(0, mirror=_redacted(mirror))

    @property
    def refusals(self) -> list[Refusal]:
        """Every failure recorded (the last 1000), oldest first."""
        with self._lock:
            return list(self._refusals)

    # -- what to try -----------------------------------------------------------------

    def order(self, items: Sequence[T], url: Callable[[T], str] = str) -> list[T]:
        """``items`` with healthy mirrors first (in the given order), then backed-off ones
        (the one to be retried soonest first)."""
        now = self._clock()
        with self._lock:
            retry = [self._retry_at(self.mirror_of(url(item))) for item in items]
        waits = [at if at > now else 0.0 for at in retry]  # 0: up (again)
        ranked = sorted(range(len(items)), key=lambda i: (waits[i], i))
        return [items[i] for i in ranked]

    def attempt(self, what: str, items: Sequence[T], url: Callable[[T], str] = str) -> Attempt[T]:
        """One operation (``what``) over ``items`` (mirrors, or URLs): see :class:`Attempt`."""
        return Attempt(self, what, self.order(items, url), url)

    # -- internals -------------------------------------------------------------------

    def _retry_at(self, mirror: str) -> float:
        state = self._states.get(mirror)
        return state.retry_at if state is not None else 0.0

    def _mark_failed(self, mirror: str, refusal: Refusal) -> tuple[int, str, float] | None:
        """Count a failure (lock held); the log arguments if the mirror just went down."""
        state = self._states.setdefault(mirror, _State())
        was_up = state.retry_at <= self._clock()
        state.failures += 1
        delay = min(self.max_backoff, self.backoff * 2 ** (state.failures - 1))
        state.retry_at = self._clock() + delay
        state.last_error = refusal.reason
        if self._metrics is not None:
            self._metrics.consecutive.set(state.failures, mirror=_redacted(mirror))
        return (state.failures, refusal.reason, delay) if was_up else None

    def _set_up_gauge(self, mirror: str, up: bool) -> None:
        if self._metrics is not None:
            self._metrics.up.set(1 if up else 0, mirror=_redacted(mirror))


class Attempt(Generic[T]):
    """One operation tried over mirrors in health order, within the time budget.

    Iterate to get the next item to try; report each try with :meth:`failed` or
    :meth:`succeeded`. Iteration stops early once the budget is spent (after at least
    one try); :meth:`error` is then the :class:`AllMirrorsFailedError` to raise, listing
    every failure and the mirrors not tried.
    """

    def __init__(
        self, health: MirrorHealth, what: str, items: Sequence[T], url: Callable[[T], str]
    ) -> None:
        self.health = health
        self.what = what
        self._items = items
        self._url = url
        self._start = health._clock()
        self.failures: list[MirrorFailure] = []

    def __iter__(self) -> Iterator[T]:
        budget = self.health.budget
        for n, item in enumerate(self._items):
            elapsed = self.health._clock() - self._start
            if n and budget is not None and elapsed >= budget:
                reason = (
                    f"not tried: {self.what} already took {elapsed:.1f}s of its {budget:g}s "
                    "time budget"
                )
                for rest in self._items[n:]:
                    self.failures.append(MirrorFailure(self._url(rest), UnavailableError(reason)))
                return
            yield item

    def failed(self, item: T, error: MirrorError, what: str | None = None) -> None:
        """``item`` failed with ``error`` (``what`` more precisely than the operation)."""
        url = self._url(item)
        self.failures.append(MirrorFailure(url, error))
        self.health.failed(url, error, what or self.what)

    def succeeded(self, item: T) -> None:
        self.health.succeeded(self._url(item))

    def error(self) -> AllMirrorsFailedError:
        return AllMirrorsFailedError(self.what, self.failures)


class _Metrics:
    """The health's instruments, in the proxy's registry (names in docs/proxy.md)."""

    def __init__(self, registry: Registry) -> None:
        self.refused = registry.counter(
            "tuf_pypi_proxy_verification_failures_total",
            "Answers refused because they failed verification, by mirror and attack class; "
            "counted even when another mirror then served the right data.",
            ["mirror", "kind"],
        )
        self.failures = registry.counter(
            "tuf_pypi_proxy_mirror_failures_total",
            "Failed attempts on a mirror (refused answers and unreachable mirrors), by kind.",
            ["mirror", "kind"],
        )
        self.up = registry.gauge(
            "tuf_pypi_proxy_mirror_up",
            "1 if the mirror is tried in order, 0 while it is backed off after failures.",
            ["mirror"],
        )
        self.consecutive = registry.gauge(
            "tuf_pypi_proxy_mirror_consecutive_failures",
            "Consecutive outage failures (down or hung) of a mirror; 0 once it answers.",
            ["mirror"],
        )

    def failed(self, refusal: Refusal) -> None:
        self.failures.inc(mirror=refusal.mirror, kind=refusal.kind)
        if refusal.attack:
            self.refused.inc(mirror=refusal.mirror, kind=refusal.kind)


def _base(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _redacted(text: str) -> str:
    """``text`` without the credentials of any URL in it (``https://user:pw@host``)."""
    return _USERINFO.sub("//***@", text)


def _printable(text: str) -> str:
    """One line of printable characters: error texts may quote what a mirror sent."""
    return " ".join("".join(c if c.isprintable() else "?" for c in text).split())
