"""Forked check workers end with their pool, also in a process that handles SIGTERM.

``tuf-pypi publisher`` turns SIGTERM into "stop after this batch". A forked worker
inherits that handler, so the SIGTERM with which leaving a ``Pool`` block ends the
workers only set the worker's copy of the flag, and the batch waited for its workers
forever, holding the publisher lock (found by scripts/bench/queue_load.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

#: A worker busy in a task when the pool is left: SIGTERM must end it at once.
SCRIPT = textwrap.dedent(
    """
    import signal, threading, time

    from tuf_pypi.repository.workers import fork_pool

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # as the publisher command does
        signal.signal(signum, lambda *_: stop.set())
    with fork_pool(2, time.time, ()) as pool:
        assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
        assert pool.apply(signal.getsignal, (signal.SIGINT,)) == signal.SIG_IGN
        pool.apply_async(time.sleep, (60,))
        time.sleep(0.5)  # a worker is now asleep in that task
    print("pool ended; stop set:", stop.is_set())
    """
)


def test_workers_end_with_their_pool_under_a_sigterm_handler(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=50
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pool ended; stop set: False" in result.stdout
    assert took < 20, f"the pool waited {took:.1f} s for a worker it had told to end"


def test_the_publisher_checks_pages_in_such_workers(make_repo, monkeypatch) -> None:
    """Both pools of the publisher (the full scan's and a batch's) are fork_pool's."""
    import tuf_pypi.repository.pagecache as pagecache
    import tuf_pypi.repository.publisher as publisher_module
    from tuf_pypi.repository import workers

    started: list[int] = []
    original = workers.fork_pool

    def counting(processes, initializer, initargs):  # type: ignore[no-untyped-def]
        started.append(processes)
        return original(processes, initializer, initargs)

    monkeypatch.setattr(pagecache, "fork_pool", counting)
    monkeypatch.setattr(publisher_module, "fork_pool", counting)
    monkeypatch.setattr(publisher_module, "_PARALLEL_PAGES", 1)
    scan = publisher_module.scan_projects
    monkeypatch.setattr(
        publisher_module, "scan_projects", lambda *a, **k: scan(*a, **{**k, "chunk_size": 1})
    )
    signed = make_repo(publish=False)
    publisher = signed.publisher(processes=2)
    publisher.publish()
    html = (signed.repo / "simple/demo-lib/index.html").read_bytes()
    pages = {
        f"simple/{name}/index.html": html.replace(b"</body>", f"<!-- {name} --></body>".encode())
        for name in ("demo-lib", "demo-new-a", "demo-new-b")
    }
    report = publisher.publish_pages(pages)
    assert report.timestamp_version is not None
    assert started == [2, 2], started
