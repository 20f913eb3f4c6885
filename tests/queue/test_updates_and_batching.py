"""Pure rules: what the hook accepts, how a batch folds entries, when a batch is cut."""

from __future__ import annotations

import json
import math

import pytest

from tuf_pypi.errors import RepoError, SettingError
from tuf_pypi.queue import UpdateRejected, deletion, page_update
from tuf_pypi.queue.batching import (
    BatchLimits,
    PendingSummary,
    QueueEntry,
    percentile,
    plan_batch,
)

from .pages import render_pages, sha256

HTML, JSON = render_pages("demo-lib", 1)


def test_update_normalizes_the_name_and_keeps_the_exact_bytes() -> None:
    update = page_update("Demo_Lib", html=HTML, json=JSON)
    assert update.project == "demo-lib"
    assert update.pages == {"index.html": HTML, "index.v1_json": JSON}
    assert update.size == len(HTML) + len(JSON)
    assert update.sha256("index.html") == sha256(HTML)
    only_html = page_update("demo-lib", html=HTML)
    assert only_html.pages == {"index.html": HTML} and only_html.sha256("index.v1_json") is None


def test_deletion_carries_no_pages() -> None:
    gone = deletion("Demo.Lib")
    assert gone.project == "demo-lib" and gone.delete and gone.pages == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": "../etc", "html": HTML}, "'../etc' is not a valid project name"),
        ({"project": "", "html": HTML}, "is not a valid project name"),
        ({"project": "demo-lib"}, "demo-lib: no page given"),
        ({"project": "demo-lib", "html": HTML.decode()}, "page must be bytes, not str"),
        ({"project": "demo-lib", "html": JSON}, "simple/demo-lib/index.html: wrong content"),
        ({"project": "demo-lib", "json": b"{"}, "simple/demo-lib/index.v1_json: not valid JSON"),
        (
            {"project": "demo-lib", "html": HTML, "max_bytes": 100},
            f"simple/demo-lib/index.html: {len(HTML)} bytes is over the page size limit of 100",
        ),
        (
            {"project": "other", "json": JSON},
            "simple/other/index.v1_json: the page is for project 'demo-lib', not other",
        ),
    ],
)
def test_bad_updates_are_refused_with_one_line_naming_the_rule(kwargs, message) -> None:
    with pytest.raises(UpdateRejected) as err:
        page_update(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    # A RepoError, so the CLI shows one line; a ValueError for callers validating values.
    assert isinstance(err.value, RepoError) and isinstance(err.value, ValueError)


def test_a_json_page_naming_the_project_unnormalized_is_accepted() -> None:
    page = json.loads(JSON)
    page["name"] = "Demo_Lib"
    assert page_update("demo-lib", json=json.dumps(page).encode()).project == "demo-lib"


def _entry(id: int, project: str = "a", html=None, json=None, delete=False) -> QueueEntry:
    return QueueEntry(id, project, html, json, delete, 0.0)


def test_a_batch_keeps_the_newest_bytes_of_each_form_by_id() -> None:
    plan = plan_batch(
        [
            _entry(3, html=b"h3"),
            _entry(1, html=b"h1", json=b"j1"),
            _entry(2, "b", json=b"b2"),
            _entry(4, json=b"j4"),
        ],
        {},
    )
    assert plan.projects == ["a", "b"]
    assert plan.changes[0].pages == {"index.html": b"h3", "index.v1_json": b"j4"}
    assert plan.changes[1].pages == {"index.v1_json": b"b2"}
    assert sorted(plan.applied) == [1, 2, 3, 4] and plan.superseded == ()


def test_deletion_and_re_creation_in_one_batch() -> None:
    deleted = plan_batch([_entry(1, html=b"h", json=b"j"), _entry(2, delete=True)], {})
    assert deleted.changes[0].pages == {"index.html": None, "index.v1_json": None}
    recreated = plan_batch([_entry(1, delete=True), _entry(2, html=b"h")], {})
    assert recreated.changes[0].pages == {"index.html": b"h", "index.v1_json": None}


def test_entries_older_than_a_published_one_are_superseded_not_applied() -> None:
    # Entry 5 committed late, after entry 7 of the same project was published.
    plan = plan_batch([_entry(5, html=b"old"), _entry(8, "b", html=b"new")], {"a": 7, "b": 6})
    assert plan.superseded == (5,) and plan.applied == (8,)
    assert plan.projects == ["b"]


def test_batch_is_cut_when_full_or_when_the_oldest_waited_long_enough() -> None:
    limits = BatchLimits(max_entries=10, max_wait=0.5)
    assert limits.wait_before_cut(PendingSummary(0, None)) == math.inf
    assert limits.wait_before_cut(PendingSummary(10, 0.0)) == 0
    assert limits.wait_before_cut(PendingSummary(3, 0.2)) == pytest.approx(0.3)
    assert limits.wait_before_cut(PendingSummary(3, 0.9)) == 0
    with pytest.raises(SettingError, match="positive"):
        BatchLimits(max_entries=0)


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile(values, 100) == 100 and percentile([3.0], 99) == 3
    assert math.isnan(percentile([], 50))
