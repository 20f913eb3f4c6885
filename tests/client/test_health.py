"""Mirror health: down and hung mirrors are remembered (tried last, for a while), state
changes are logged, and one operation's time across mirrors is bounded."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from tuf_pypi.client import (
    AllMirrorsFailedError,
    Client,
    Limits,
    TamperedError,
    TooSlowError,
    UnavailableError,
)
from tuf_pypi.client.health import MirrorHealth
from tuf_pypi.metrics import Registry
from tuf_pypi.testing.clock import Clock
from tuf_pypi.testing.limits import SLOW_CHECK
from tuf_pypi.testing.mirror_server import Serve, closed_port_url, trickle
from tuf_pypi.testing.signed_index import Index

from .checks import PROJECT, MakeClient

M1, M2, M3 = "http://m1.example/", "http://m2.example/", "http://m3.example/"


def test_a_down_mirror_is_tried_last_until_its_back_off_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(1000.0)
    registry = Registry()
    health = MirrorHealth([M1, M2, M3], registry=registry, clock=clock, backoff=10)
    assert health.order([M1, M2, M3]) == [M1, M2, M3]
    with caplog.at_level(logging.WARNING, logger="tuf_pypi"):
        health.failed(M1 + "tuf/timestamp.json", UnavailableError("refused"), "refreshing")
    assert "mirror http://m1.example/ is down" in caplog.text
    assert health.order([M1, M2, M3]) == [M2, M3, M1]
    assert registry.render().count('tuf_pypi_proxy_mirror_up{mirror="http://m1.example/"} 0') == 1
    clock.advance(seconds=10)
    assert health.order([M1, M2, M3]) == [M1, M2, M3]  # retried after the back-off
    health.failed(M1, TooSlowError("hung"), "x")  # failed again: twice as long
    clock.advance(seconds=19)
    assert health.order([M1, M2, M3]) == [M2, M3, M1]
    clock.advance(seconds=1)
    assert health.order([M1, M2, M3]) == [M1, M2, M3]
    with caplog.at_level(logging.WARNING, logger="tuf_pypi"):
        health.succeeded(M1 + "simple/x/")
    assert "mirror http://m1.example/ is up again after 2 failures" in caplog.text
    assert health.order([M1, M2, M3]) == [M1, M2, M3]
    rendered = registry.render()
    assert 'tuf_pypi_proxy_mirror_up{mirror="http://m1.example/"} 1.0' in rendered
    failures = (
        'tuf_pypi_proxy_mirror_failures_total{kind="unavailable",mirror="http://m1.example/"}'
    )
    assert f"{failures} 1.0" in rendered


def test_only_outages_back_a_mirror_off() -> None:
    """A missing file (404) or a refused answer says nothing about the mirror being up;
    a 5xx does. Every one is still recorded."""
    health = MirrorHealth([M1, M2])
    health.failed(M1, UnavailableError("404", http_status=404), "a")
    health.failed(M1, TamperedError("bad"), "b")
    assert health.order([M1, M2]) == [M1, M2]
    health.failed(M1, UnavailableError("503", http_status=503), "c")
    assert health.order([M1, M2]) == [M2, M1]
    assert [r.what for r in health.refusals] == ["a", "b", "c"]


def test_urls_count_for_their_mirror_or_origin() -> None:
    health = MirrorHealth(["http://m.example/base/", "http://m.example/base/sub/"])
    assert health.mirror_of("http://m.example/base/packages/a.whl") == "http://m.example/base/"
    assert health.mirror_of("http://m.example/base/sub/x") == "http://m.example/base/sub/"
    assert health.mirror_of("https://files.example/p/a.whl") == "https://files.example/"


@pytest.fixture
def hung_url() -> Iterator[str]:
    """A mirror that accepts connections and never answers (a listening socket nobody
    reads from)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


def _pages_and_files(make_client: MakeClient, first: str, index: Index, serve: Serve, tmp_path):
    honest = serve(index)
    client = make_client(first, honest, limits=Limits(connect_timeout=1, read_timeout=1))
    start = time.monotonic()
    for project in ("demo-core", "demo-lib", "demo-app"):
        page = client.page(project)
        client.download(page, page.page.files[0], tmp_path / "dl")
    return client, time.monotonic() - start


def test_a_hung_mirror_costs_one_timeout_not_one_per_request(
    hung_url: str, index: Index, serve: Serve, make_client: MakeClient, tmp_path, caplog
) -> None:
    with caplog.at_level(logging.WARNING, logger="tuf_pypi"):
        client, elapsed = _pages_and_files(make_client, hung_url, index, serve, tmp_path)
    # One 1 s timeout (the refresh); the three file downloads try the honest mirror first.
    assert elapsed < 2.5, elapsed
    assert [(r.mirror, r.kind) for r in client.refusals] == [(hung_url, "too slow")]
    assert f"mirror {hung_url} is down" in caplog.text


def test_a_refusing_mirror_is_tried_last(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path
) -> None:
    closed = closed_port_url()
    client, _ = _pages_and_files(make_client, closed, index, serve, tmp_path)
    assert [(r.mirror, r.kind) for r in client.refusals] == [(closed, "unavailable")]


def test_a_slow_mirror_is_remembered(
    index: Index, serve: Serve, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A mirror that trickles its answer (slow retrieval) fails the minimum rate once,
    shown as an attack although the honest mirror then answered, and then waits."""
    slow, honest = serve(index), serve(index)
    slow.hooks["tuf/timestamp.json"] = trickle(index.read("tuf/timestamp.json"), delay=0.05)
    client = make_client(slow, honest, limits=SLOW_CHECK)
    with caplog.at_level(logging.WARNING, logger="tuf_pypi"):
        client.page(PROJECT)
        client.page("demo-lib")
    assert [(r.mirror, r.kind) for r in client.refusals] == [(slow.url, "too slow")]
    assert f"refused mirror {slow.url}: refreshing TUF metadata" in caplog.text
    assert "(attack class: too slow)" in caplog.text
    # Pages and bins came from the honest mirror (the view), the slow one was asked once.
    assert slow.count("tuf/timestamp.json") == 1
    assert not any(path.startswith("simple/") for path in slow.requests)


def test_total_time_across_mirrors_is_bounded(index: Index, tmp_path) -> None:
    """Three hung mirrors, 1 s timeouts, a 1.5 s budget: the refresh gives up after two
    attempts (≈ 2 s), and says the third was not tried."""
    socks = []
    for _ in range(3):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        socks.append(sock)
    urls = [f"http://127.0.0.1:{s.getsockname()[1]}/" for s in socks]
    health = MirrorHealth(urls, budget=1.5)
    try:
        limits = Limits(connect_timeout=1, read_timeout=1)
        client = Client(urls, index.root_bytes, tmp_path / "c", limits=limits, health=health)
        start = time.monotonic()
        with pytest.raises(AllMirrorsFailedError) as excinfo:
            client.refresh()
        elapsed = time.monotonic() - start
    finally:
        for sock in socks:
            sock.close()
    assert elapsed < 2.8, elapsed
    kinds = [type(e) for e in excinfo.value.errors]
    assert kinds == [TooSlowError, TooSlowError, UnavailableError]
    assert "not tried" in str(excinfo.value.errors[2]) and "1.5s time budget" in str(excinfo.value)


def test_credentials_in_mirror_urls_never_reach_logs_or_metrics(caplog) -> None:
    secret = "https://ci:s3cret@mirror.example/"
    registry = Registry()
    health = MirrorHealth([secret], registry=registry)
    with caplog.at_level(logging.INFO, logger="tuf_pypi"):
        health.failed(secret + "simple/x/", TamperedError(f"{secret}simple/x/: bad"), "x")
        health.failed(secret, UnavailableError(f"{secret}tuf/timestamp.json: refused"), "y")
        health.succeeded(secret)
    shown = [str(r) for r in health.refusals] + [caplog.text, registry.render()]
    assert all("s3cret" not in text for text in shown), shown
    assert health.refusals[0].mirror == "https://***@mirror.example/"
