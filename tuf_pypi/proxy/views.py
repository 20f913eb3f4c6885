"""Views of the index: one :class:`Client` per refresh interval, shared by all requests.

A :class:`Client` refreshes the TUF metadata once and is then one consistent view of
the index (docs/client.md). The proxy serves many installer runs, so it needs fresh
metadata now and then, but not on every request: refreshing per request would cost a
timestamp download each time and could show one installer run two views. So the proxy
keeps a current :class:`IndexView` and replaces it by a new one (a new Client, refreshed
once) when it is older than the refresh interval. Requests already running keep the
view they started with.

A refresh that fails on every mirror is not papered over with the previous view: that
view's metadata may be exactly what an attacker wants frozen. Requests get the error
(the proxy answers 424 or 503, naming it) and the refresh is tried again after
``retry_seconds``, not on every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..client.client import Client, VerifiedPage
from ..client.errors import ClientError, NotListedError, SetupError

__all__ = ["IndexView", "ViewRotation"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Memo(Generic[K, V]):
    """Values computed once per key; concurrent callers of one key wait for one computation.

    A computation that raises is not remembered: the next caller tries again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[K, V] = {}
        self._pending: dict[K, threading.Lock] = {}

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                return self._values[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = compute()
            with self._lock:
                self._values[key] = value
                self._pending.pop(key, None)
            return value


class IndexView:
    """One refreshed :class:`Client` and what the proxy read through it.

    ``page()`` remembers verified pages and "not listed" answers for the life of the
    view, and ``rendered()`` the bodies made from them, so a page is fetched and
    rendered once per view however many installers ask.
    """

    def __init__(self, client: Client, started: float) -> None:
        self.client = client
        self.started = started
        self.failure: ClientError | None = None
        self._pages: _Memo[str, VerifiedPage | NotListedError] = _Memo()
        self._rendered: _Memo[tuple[str, str], bytes] = _Memo()

    def page(self, project: str) -> VerifiedPage:
        """The verified page of a normalized project name; raises :class:`NotListedError`."""
        found = self._pages.get(project, lambda: self._lookup(project))
        if isinstance(found, NotListedError):
            raise found
        return found

    def rendered(self, project: str, form: str, render: Callable[[VerifiedPage], bytes]) -> bytes:
        """``render(page)`` for the project's page, computed once per ``form``."""
        page = self.page(project)
        return self._rendered.get((project, form), lambda: render(page))

    def _lookup(self, project: str) -> VerifiedPage | NotListedError:
        try:
            return self.client.page(project)
        except NotListedError as exc:
            return exc  # a signed answer: the same on every mirror, worth remembering


class ViewRotation:
    """The current :class:`IndexView`, replaced every ``interval`` seconds. Thread-safe.

    ``open_client`` makes a new Client (same mirrors, root and cache directory: the
    trusted metadata on disk carries over, so rollbacks are still caught). It is
    refreshed at once, under the rotation's lock, so concurrent requests wait for one
    refresh instead of each starting one. ``on_refresh`` is told each outcome (None
    for success), for logs and metrics.
    """

    def __init__(
        self,
        open_client: Callable[[], Client],
        interval: float,
        *,
        retry_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_refresh: Callable[[ClientError | None], None] | None = None,
    ) -> None:
        if interval <= 0:
            raise SetupError(f"refresh interval must be positive, not {interval}")
        self._open_client = open_client
        self.interval = interval
        self.retry_seconds = min(retry_seconds, interval)
        self._clock = clock
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._view: IndexView | None = None

    def current(self) -> IndexView:
        """The view to serve this request from; raises the error of a failed refresh."""
        with self._lock:
            view = self._view
            now = self._clock()
            if view is None or now - view.started >= self._lifetime(view):
                view = self._refresh(now)
        if view.failure is not None:
            raise view.failure
        return view

    def close(self) -> None:
        """Release the connections of the current view's client."""
        with self._lock:
            if self._view is not None:
                self._view.client.close()

    def _lifetime(self, view: IndexView) -> float:
        return self.interval if view.failure is None else self.retry_seconds

    def _refresh(self, now: float) -> IndexView:
        old = self._view
        view = IndexView(self._open_client(), now)
        try:
            view.client.refresh()
        except ClientError as exc:
            view.failure = exc
        self._view = view
        if old is not None:
            old.client.close()  # requests still using it reconnect as needed
        if self._on_refresh is not None:
            self._on_refresh(view.failure)
        return view
