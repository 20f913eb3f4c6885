"""A clock tests move by hand instead of waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

__all__ = ["Clock"]

T = TypeVar("T", datetime, float)


@dataclass
class Clock(Generic[T]):
    """Stands for ``utcnow`` (a datetime) or ``time.monotonic`` (seconds), whichever the
    code under test is given; it says ``now`` until a test moves it."""

    now: T

    def __call__(self) -> T:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move on by ``timedelta(**kwargs)``: ``advance(days=2)``, ``advance(seconds=10)``."""
        step = timedelta(**kwargs)
        if isinstance(self.now, datetime):
            self.now = self.now + step
        else:
            self.now = self.now + step.total_seconds()
