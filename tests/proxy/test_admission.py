"""Admission (:mod:`tuf_pypi.proxy.admission`): a few requests at a time, nobody blocked.

With real threads: the slots bound how many run at once, a request whose wait is over
goes ahead (counted), and through a real proxy a request stuck on a hung mirror holds
its slot without holding up the others for longer than the wait.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tuf_pypi.metrics import Registry
from tuf_pypi.proxy.admission import Admission
from tuf_pypi.proxy.server import ProxyServer
from tuf_pypi.testing.mirror_server import MirrorServer, delayed
from tuf_pypi.testing.signed_index import Index

from .helpers import PROJECT, file_url, request


def test_no_more_than_the_slots_run_at_once() -> None:
    admission = Admission(slots=2, max_wait=10)
    running, most = 0, 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, most
        with admission.slot() as admitted:
            assert admitted
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            with lock:
                running -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 2


def test_a_request_that_waited_long_enough_goes_ahead_and_is_counted() -> None:
    registry = Registry()
    admission = Admission(slots=1, max_wait=0.05, registry=registry)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with admission.slot():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    started = time.monotonic()
    with admission.slot() as admitted:
        waited = time.monotonic() - started
    release.set()
    holder.join()
    assert not admitted
    assert 0.04 <= waited < 1
    assert "tuf_pypi_proxy_admission_overdue_total 1.0" in registry.render()
    with admission.slot() as admitted:
        assert admitted  # the slot came back


def test_a_request_stuck_on_a_hung_mirror_does_not_hold_up_the_others(
    base_index: Index, tmp_path: Path
) -> None:
    mirror = MirrorServer(base_index.repo)
    try:
        proxy = ProxyServer(
            [mirror.url], base_index.root_bytes, tmp_path / "cache", admission=Admission(1, 0.2)
        )
        with proxy.start():
            url = file_url(proxy)
            wheel_path, _ = base_index.wheel(PROJECT)
            mirror.hooks[wheel_path] = delayed(3)  # the wheel hangs; its .metadata does not
            blocked = threading.Thread(target=request, args=(url,), kwargs={"timeout": 30})
            blocked.start()
            deadline = time.monotonic() + 10
            while mirror.count(wheel_path) == 0 and time.monotonic() < deadline:
                time.sleep(0.01)  # until the proxy is waiting on the mirror, holding the slot
            started = time.monotonic()
            answer = request(url + ".metadata")
            took = time.monotonic() - started
            blocked.join()
        assert answer.status == 200
        assert took < 2  # waited for the slot at most 0.2 s, not for the hung download
    finally:
        mirror.stop()
