"""The one classification of observed pages (``changeset.classify``): pure, no I/O."""

from __future__ import annotations

from tuf.api.metadata import Metadata, Targets

from tuf_pypi.repository.changeset import (
    Absent,
    ChangeSet,
    Observed,
    classify,
    next_versions,
    target,
)
from tuf_pypi.repository.scan import Skipped

A, B = "a" * 64, "b" * 64
SIGNED = {
    "bin-0": {
        "simple/same/index.html": target(A, 10),
        "simple/edit/index.html": target(A, 10),
        "simple/gone/index.html": target(A, 10),
        "simple/bad/index.html": target(A, 10),
    },
    "bin-1": {"simple/dropped/index.v1_json": target(B, 5)},
}


def _bin_of(path: str) -> str:
    return "bin-1" if "dropped" in path or "new" in path else "bin-0"


def _current(bin_name: str, path: str):
    return SIGNED.get(bin_name, {}).get(path)


def _observed(path: str, sha256: str, length: int, **kw) -> Observed:
    return Observed(path, _bin_of(path), sha256, length, 0, **kw)


def test_every_class_of_change() -> None:
    cs = classify(
        [
            _observed("simple/same/index.html", A, 10),
            _observed("simple/edit/index.html", B, 11),
            _observed("simple/new/index.html", B, 3, copy_written=True),
            Absent("simple/gone/index.html"),
            Absent("simple/never/index.html"),
            Skipped("simple/bad/index.html", "invalid UTF-8"),
        ],
        _current,
        _bin_of,
    )
    assert cs.unchanged == 1 and not cs.repaired
    assert cs.changed == ["simple/edit/index.html"]
    assert cs.added == ["simple/new/index.html"]
    assert cs.removed == ["simple/gone/index.html"]  # an absent page never signed: nothing
    assert [s.reason for s in cs.skipped] == ["invalid UTF-8"]
    assert cs.bins == {
        "bin-0": {"simple/edit/index.html": target(B, 11), "simple/gone/index.html": None},
        "bin-1": {"simple/new/index.html": target(B, 3)},
    }  # the skipped page keeps its signed version: not in any bin's changes


def test_unchanged_page_whose_copy_was_missing_is_repaired_not_resigned() -> None:
    cs = classify(
        [_observed("simple/same/index.html", A, 10, copy_written=True)], _current, _bin_of
    )
    assert cs.unchanged == 1 and cs.repaired == ["simple/same/index.html"] and not cs.bins


def test_same_digest_other_length_is_a_change() -> None:
    cs = classify([_observed("simple/same/index.html", A, 11)], _current, _bin_of)
    assert cs.changed == ["simple/same/index.html"]


def test_full_scan_removes_projects_that_are_gone() -> None:
    signed = [(name, path) for name, targets in SIGNED.items() for path in targets]
    cs = classify(
        [_observed("simple/same/index.html", A, 10)],
        _current,
        _bin_of,
        signed=signed,
        present={"same", "edit", "bad", "gone"}.__contains__,
    )
    assert cs.removed == ["simple/dropped/index.v1_json"]
    assert cs.bins == {"bin-1": {"simple/dropped/index.v1_json": None}}


def test_edited_in_place_and_unverifiable_are_reported() -> None:
    seen = Observed("simple/edit/index.html", "bin-0", B, 4, 2, None, False, True)
    cs = classify([seen], _current, _bin_of)
    assert cs.edited_in_place == ["simple/edit/index.html"]
    assert cs.unverifiable == {"simple/edit/index.html": 2}


def test_resign_and_set_are_what_rebin_and_ceremonies_use() -> None:
    cs = ChangeSet()
    cs.resign("bin-0")
    cs.set("bin-1", "simple/x/index.html", None)
    cs.resign("bin-1")
    assert cs.bins == {"bin-0": {}, "bin-1": {"simple/x/index.html": None}}


def test_replace_retire_and_publish_role_are_what_rebin_says() -> None:
    cs = ChangeSet()
    moved = {"simple/x/index.html": target(A, 1)}
    cs.set("bin-00", "simple/y/index.html", None)
    cs.replace("bin-00", moved)  # exactly these targets: earlier changes are gone
    cs.retire("bin-0")
    bins = Metadata(Targets(version=2))
    cs.publish_role("bins", bins)
    assert cs.bins == {"bin-00": moved, "bin-0": {}}
    assert cs.bins["bin-00"] is moved  # taken, not copied: a rebin moves every target
    assert cs.replaced == {"bin-00", "bin-0"} and cs.retired == ["bin-0"]
    assert cs.roles == {"bins": bins}


def test_next_versions_go_above_the_snapshot_and_every_file_on_disk() -> None:
    published = {"bin-0": 3, "bin-1": 8}
    on_disk = {"bin-0": 5, "bin-1": 2, "bin-3": 9}
    assert next_versions(["bin-0", "bin-1", "bin-2"], published, on_disk) == {
        "bin-0": 6,  # v5 on disk: a crashed run's, never published
        "bin-1": 9,
        "bin-2": 1,  # never seen
    }
