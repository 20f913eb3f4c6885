"""How many requests the proxy works on at once: a few, the others wait their turn, briefly.

CPython runs one thread at a time (the GIL). Each request thread gives it up at every
blocking call (a socket read, a file write, a stat), and with many runnable threads it
then waits for all the others' turns before it can go on. uv sends 20 to 50 requests at
once; a cold proxy answering all of them at the same time spent a good part of its time
handing the GIL around (tens of thousands of futex calls per install, measured with
``strace -c -f``) and finished every one of them late. Answering two at a time,
roughly in arrival order (a semaphore wakes its waiters first come, first served),
finishes the first ones early and the whole burst sooner (docs/performance.md has the
figures).

A slot is held only while the answer is worked out (:meth:`ProxyApp.respond`), not
while it is sent, so a slow installer reading a large wheel holds none. A request that
waited :attr:`Admission.max_wait` seconds goes ahead without a slot: a slot held by a
request stuck on a slow or hung mirror (up to the read timeout) then delays the others
by at most that long, and never blocks them. Those are counted, so an operator sees it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ..metrics import Registry

__all__ = ["DEFAULT_MAX_WAIT", "DEFAULT_SLOTS", "Admission"]

#: Requests worked on at once: two, so one can wait on a mirror while the other runs.
DEFAULT_SLOTS = 2
#: Seconds a request waits for a slot before it goes ahead anyway.
DEFAULT_MAX_WAIT = 0.1


class Admission:
    """At most ``slots`` requests at once; a request waits at most ``max_wait`` seconds."""

    def __init__(
        self,
        slots: int = DEFAULT_SLOTS,
        max_wait: float = DEFAULT_MAX_WAIT,
        registry: Registry | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        self.slots = slots
        self.max_wait = max_wait
        self._free = threading.Semaphore(slots)
        registry = registry or Registry()
        self._overdue = registry.counter(
            "tuf_pypi_proxy_admission_overdue_total",
            "Requests that waited the longest allowed for a slot and went ahead without one "
            "(the slots were held by requests waiting on slow mirrors).",
        )

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Hold a slot for the ``with`` block; True if one was free in time."""
        admitted = self._free.acquire(timeout=self.max_wait)
        if not admitted:
            self._overdue.inc()
        try:
            yield admitted
        finally:
            if admitted:
                self._free.release()
