"""The layout contract: names, target paths and bins agree with python-tuf."""

from __future__ import annotations

import pytest
from tuf.api.metadata import SuccinctRoles

from tuf_pypi import layout


@pytest.mark.parametrize("bins", [2, 16, 1024, 16384, 65536])
def test_bin_assignment_matches_python_tuf(bins: int) -> None:
    succinct = SuccinctRoles([], 1, bins.bit_length() - 1, layout.BIN_PREFIX)
    names = list(succinct.get_roles())
    assert names == [layout.bin_name(i, bins) for i in range(bins)]
    for i in range(300):
        path = layout.page_target(f"project-{i}", layout.PAGE_FORMS[i % 2])
        expected = succinct.get_role_for_target(path)
        assert layout.bin_name(layout.bin_index(path, bins), bins) == expected


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("Foo_Bar", "foo-bar"), ("foo.bar", "foo-bar"), ("Foo--._Bar", "foo-bar"), ("x", "x")],
)
def test_normalize(raw: str, normal: str) -> None:
    assert layout.normalize(raw) == normal
    assert layout.is_normalized(normal)


@pytest.mark.parametrize(
    "name", ["..", ".", "", "Foo", "foo_bar", "a/b", "-foo", "foo-", "café", "a b", "a\x00b"]
)
def test_not_normalized_names_are_rejected(name: str) -> None:
    assert not layout.is_normalized(name)
    with pytest.raises(layout.LayoutError, match="normalized"):
        layout.page_target(name, "index.html")


def test_page_target_round_trip_and_rejections() -> None:
    path = layout.page_target("demo-app", "index.v1_json")
    assert path == "simple/demo-app/index.v1_json"
    assert layout.parse_page_target(path) == layout.PageTarget("demo-app", "index.v1_json")
    for bad in ["simple/demo-app/evil.json", "simple/../index.html", "tuf/x/index.html", "a"]:
        with pytest.raises(layout.LayoutError):
            layout.parse_page_target(bad)


def test_consistent_names() -> None:
    digest = "ab" * 32
    name = layout.consistent_name("index.html", digest)
    assert name == f"{digest}.index.html"
    assert layout.split_consistent_name(name) == (digest, "index.html")
    assert layout.split_consistent_name("index.html") is None
    with pytest.raises(layout.LayoutError):
        layout.consistent_name("index.html", "AB" * 32)


def test_bin_counts() -> None:
    assert layout.bins_for_projects(740_000) == 16384  # PEP 458's figure for PyPI
    assert layout.bins_for_projects(10) == 16
    with pytest.raises(layout.LayoutError, match="power of two"):
        layout.bin_index("simple/a/index.html", 12)
    assert layout.role_of_metadata_filename("bin-0a.json") == "bin-0a"
    assert layout.is_bin_role("bin-0a") and not layout.is_bin_role("bins")
