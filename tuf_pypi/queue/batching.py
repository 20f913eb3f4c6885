"""Turning queued entries into one publish: when to cut a batch, and what it changes.

PEP 458 wants uploads signed by one serialised process, but signing a snapshot and
timestamp per upload would cap an index at a few uploads a second. So the publisher
takes entries in batches, by count, bytes and waiting time, and folds each batch into
the last state of every project it touches: one publish, one snapshot, one timestamp.
Pure: no I/O, so the rules are tested without a database.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .. import layout
from ..errors import SettingError

__all__ = [
    "BatchLimits",
    "BatchPlan",
    "PendingSummary",
    "ProjectChange",
    "QueueEntry",
    "percentile",
    "plan_batch",
]


@dataclass(frozen=True)
class QueueEntry:
    """One row of the queue as the publisher reads it.

    ``enqueued_at`` is in seconds since the epoch by the database's clock, so lag
    measured against the database's clock is right whichever host enqueued it.
    """

    id: int
    project: str
    html: bytes | None
    json: bytes | None
    delete: bool
    enqueued_at: float


@dataclass(frozen=True)
class PendingSummary:
    """How much waits in the queue: entries, and the age of the oldest (seconds)."""

    depth: int
    oldest_age: float | None


@dataclass(frozen=True)
class BatchLimits:
    """When to cut a batch and how large it may be.

    A batch is cut as soon as ``max_entries`` are waiting or the oldest entry has
    waited ``max_wait`` seconds: under load batches fill up and amortise signing,
    when quiet a lone upload is published after ``max_wait``. ``max_bytes`` bounds
    the page data held in memory at once (a batch always takes at least one entry).
    """

    max_entries: int = 1000
    max_bytes: int = 256 * 1024 * 1024
    max_wait: float = 0.5

    def __post_init__(self) -> None:
        if self.max_entries < 1 or self.max_bytes < 1 or self.max_wait < 0:
            raise SettingError(
                f"batch limits must be positive (max_wait may be 0), not {self.max_entries} "
                f"entries, {self.max_bytes} bytes, {self.max_wait} s"
            )

    def wait_before_cut(self, pending: PendingSummary) -> float:
        """Seconds to wait before cutting a batch; 0 when it should be cut now."""
        if pending.depth == 0 or pending.oldest_age is None:
            return math.inf
        if pending.depth >= self.max_entries:
            return 0.0
        return max(0.0, self.max_wait - pending.oldest_age)


@dataclass
class ProjectChange:
    """The net effect of a batch on one project's pages.

    ``pages`` maps a page form to its new bytes, or to None when the page is to be
    removed; forms not in it stay as they are.
    """

    project: str
    pages: dict[str, bytes | None] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchPlan:
    """What one batch does.

    ``applied`` are the entries the batch publishes (whose project's final state it
    signs); ``superseded`` arrived after a newer update of their project had been
    published already (an index transaction that committed late), and are settled
    without being applied so a project's pages never go back in time.
    """

    changes: tuple[ProjectChange, ...]
    applied: tuple[int, ...]
    superseded: tuple[int, ...]

    @property
    def projects(self) -> list[str]:
        return [change.project for change in self.changes]

    def pages(self) -> dict[str, bytes | None]:
        """``{target path: new bytes, or None to remove}``: ``Publisher.publish_pages``'s input."""
        return {
            layout.page_target(change.project, form): data
            for change in self.changes
            for form, data in change.pages.items()
        }


def plan_batch(entries: Iterable[QueueEntry], latest_published: Mapping[str, int]) -> BatchPlan:
    """Fold ``entries`` (any order) into the last state of each project, by entry id.

    The id order is the order the index's upload path enqueued updates of a project
    in (it renders a project's page under that project's lock), so the update with
    the highest id is the newest. ``latest_published`` maps projects to the highest
    id already published for them.
    """
    changes: dict[str, ProjectChange] = {}
    applied: list[int] = []
    superseded: list[int] = []
    for entry in sorted(entries, key=lambda e: e.id):
        if entry.id < latest_published.get(entry.project, -1):
            superseded.append(entry.id)
            continue
        change = changes.setdefault(entry.project, ProjectChange(entry.project))
        if entry.delete:
            change.pages = dict.fromkeys(layout.PAGE_FORMS)
        else:
            for form, data in zip(layout.PAGE_FORMS, (entry.html, entry.json), strict=True):
                if data is not None:
                    change.pages[form] = data
        applied.append(entry.id)
    ordered = tuple(changes[name] for name in sorted(changes))
    return BatchPlan(ordered, tuple(applied), tuple(superseded))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
