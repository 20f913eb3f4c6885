"""Progress on long work: click's progress bar on stderr, only on a terminal.

Commands that can run for minutes at PyPI scale (publish, verify, rebin) take a
``progress(stage, done, total)`` callback from the library; this turns it into one
click progress bar per stage. Under ``--json``, in cron or with stderr redirected,
there is no callback at all, so scripts see exactly what they saw before.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import click

__all__ = ["StageBars", "progress_bars", "wants_progress"]


def wants_progress(as_json: bool = False) -> bool:
    """Show progress: on a terminal, and never under ``--json``."""
    return not as_json and sys.stderr.isatty()


class StageBars:
    """One click progress bar per stage, each drawn when its stage reports first."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: click._termui_impl.ProgressBar | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = click.progressbar(length=total, label=stage, file=sys.stderr)
            self._bar.__enter__()
        assert self._bar is not None
        self._bar.update(done - self._bar.pos)

    def pages(self, label: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback (the publisher's shape) for one stage."""
        return lambda done, total: self(label, done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[StageBars | None]:
    """Stage bars if ``enabled`` (see :func:`wants_progress`), else None; closed at exit."""
    if not enabled:
        yield None
        return
    bars = StageBars()
    try:
        yield bars
    finally:
        bars.close()
