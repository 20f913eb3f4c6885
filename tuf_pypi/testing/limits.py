"""Client limits for tests: short enough that a bug does not hang a test run."""

from __future__ import annotations

from tuf_pypi.client import Limits

__all__ = ["FAST", "SLOW_CHECK"]

#: Generous enough for honest local transfers, short enough that a bug does not hang.
FAST = Limits(connect_timeout=2.0, read_timeout=2.0)
#: For slow retrieval tests: silence fails after 1 s, and the average rate is checked
#: after 0.3 s. A trickle of 20 bytes/s fails; an honest local transfer would have to
#: take seconds to fall below 100 bytes/s.
SLOW_CHECK = Limits(
    connect_timeout=2.0, read_timeout=1.0, grace_seconds=0.3, min_bytes_per_second=100
)
