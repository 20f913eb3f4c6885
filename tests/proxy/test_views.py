"""One view (one Client, one refresh) per interval; failed refreshes retried, not reused."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tuf_pypi.client import AllMirrorsFailedError, NotListedError
from tuf_pypi.proxy.views import ViewRotation
from tuf_pypi.testing.clock import Clock


class StubClient:
    """What the rotation uses of a Client: refresh() once, page(), close()."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.refreshes = 0
        self.lookups = 0
        self.closed = False

    def refresh(self) -> None:
        self.refreshes += 1
        if self.fail:
            raise AllMirrorsFailedError("refreshing TUF metadata", [])

    def page(self, project: str) -> str:
        self.lookups += 1
        if project == "missing":
            raise NotListedError("project 'missing' is not listed")
        return f"page of {project}"

    def close(self) -> None:
        self.closed = True


def rotation(clients: list[StubClient], clock: Clock[float], outcomes: list) -> ViewRotation:
    opened = iter(clients)
    return ViewRotation(
        lambda: next(opened),  # type: ignore[arg-type, return-value]
        interval=300,
        retry_seconds=10,
        clock=clock,
        on_refresh=outcomes.append,
    )


def test_one_view_per_interval() -> None:
    clock, outcomes = Clock(1000.0), []
    first, second = StubClient(), StubClient()
    views = rotation([first, second], clock, outcomes)
    view = views.current()
    clock.advance(seconds=299)
    assert views.current() is view
    assert first.refreshes == 1
    clock.advance(seconds=1)
    newer = views.current()
    assert newer is not view and newer.client is second
    assert second.refreshes == 1 and first.closed
    assert outcomes == [None, None]


def test_failed_refresh_is_retried_after_a_pause_not_on_every_request() -> None:
    clock, outcomes = Clock(1000.0), []
    broken, fixed = StubClient(fail=True), StubClient()
    views = rotation([broken, fixed], clock, outcomes)
    for _ in range(3):
        with pytest.raises(AllMirrorsFailedError):
            views.current()
    assert broken.refreshes == 1
    clock.advance(seconds=10)
    assert views.current().client is fixed
    assert [outcome is None for outcome in outcomes] == [False, True]


def test_pages_and_not_listed_answers_are_remembered_per_view() -> None:
    client = StubClient()
    view = rotation([client], Clock(1000.0), []).current()
    assert view.page("demo") == view.page("demo") == "page of demo"
    for _ in range(2):
        with pytest.raises(NotListedError):
            view.page("missing")
    assert client.lookups == 2
    assert view.rendered("demo", "json", lambda page: page.encode()) == b"page of demo"


def test_concurrent_requests_wait_for_one_refresh() -> None:
    clock = Clock(1000.0)
    gate = threading.Event()

    class SlowClient(StubClient):
        def refresh(self) -> None:
            gate.wait(5)
            super().refresh()

    client = SlowClient()
    views = rotation([client], clock, [])
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(views.current) for _ in range(8)]
        gate.set()
        assert len({id(future.result()) for future in futures}) == 1
    assert client.refreshes == 1
