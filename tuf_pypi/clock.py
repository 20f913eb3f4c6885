"""The wall clock, in UTC: one definition for every command, on both sides.

Code that sets or checks expiry takes ``now`` (or a clock) as an argument, so that
tests can give it any time (DESIGN.md §7); only the edges (commands, daemons) read the
real clock, through :func:`utcnow`. It lives apart from the repository and the client
side so that either can use it without importing the other.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: what metadata expiry is compared with."""
    return datetime.now(timezone.utc)
