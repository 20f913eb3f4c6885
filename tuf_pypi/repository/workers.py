"""Forked worker pools for the publisher's CPU-bound checks.

Scanning and checking pages fork workers that inherit their input (a stat cache of a
million entries, a batch of pages) instead of receiving it pickled. A fork also
inherits the parent's signal handlers, and ``tuf-pypi publisher`` (like ``proxy``)
turns SIGTERM into "stop after this batch". Leaving a ``Pool`` block ends the workers
with SIGTERM; with that handler a worker only sets its own copy of the flag and goes
on waiting for work, and the batch waits for it forever, holding the publisher lock
(seen under ``scripts/bench/queue_load.py``). So every worker first restores the
default SIGTERM and ignores SIGINT: the parent decides what Ctrl-C stops.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["fork_pool"]


def fork_pool(
    processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> multiprocessing.pool.Pool:
    """A pool of ``processes`` forked workers, each set up by ``initializer(*initargs)``.

    ``initargs`` reach the workers through the fork, never pickled.
    """
    context = multiprocessing.get_context("fork")
    return context.Pool(processes, initializer=_start, initargs=(initializer, initargs))


def _start(initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    initializer(*initargs)
