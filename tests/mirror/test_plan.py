"""The pure decisions of a mirror sync: what changed, where a file lands, what is covered."""

from __future__ import annotations

import pytest

from tuf_pypi.layout import LayoutError
from tuf_pypi.mirror.plan import Coverage, changed_roles, packages_path, page_copy_path

PAGE = "https://mirror.example/simple/demo/"
SHA = "ab" * 32


def test_changed_roles_are_new_or_at_another_version() -> None:
    old = {"targets": 1, "bins": 1, "bin-0": 3, "bin-1": 2}
    new = {"targets": 1, "bins": 1, "bin-0": 4, "bin-1": 2, "bin-2": 1}
    assert changed_roles(old, new) == ["bin-0", "bin-2"]
    assert changed_roles({}, new) == sorted(new)


def test_page_copy_path() -> None:
    assert page_copy_path("simple/demo/index.v1_json", SHA) == f"simple/demo/{SHA}.index.v1_json"
    with pytest.raises(LayoutError):
        page_copy_path("simple/../index.html", SHA)
    with pytest.raises(LayoutError):
        page_copy_path("simple/demo/index.html", "md5:abc")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("../../packages/ab/cd/x/demo-1.0.whl", "ab/cd/x/demo-1.0.whl"),
        ("https://files.example/packages/ab/cd/x/demo-1.0.whl", "ab/cd/x/demo-1.0.whl"),
        # The last /packages/ segment counts, as the client cuts it.
        ("https://h/packages/mirror/packages/ab/demo.whl", "ab/demo.whl"),
        # Percent-encoding is decoded, as a web server maps the URL to a file.
        ("../../packages/ab/demo-1.0%2Blocal.whl", "ab/demo-1.0+local.whl"),
        ("https://elsewhere.example/files/demo-1.0.whl", None),
        ("demo-1.0.whl", None),
    ],
)
def test_where_a_file_lands_under_packages(link: str, expected: str | None) -> None:
    assert packages_path(PAGE, link) == expected


@pytest.mark.parametrize(
    "link",
    [
        "../../packages/ab/%2E%2E/%2E%2E/tuf/timestamp.json",
        "../../packages/ab/..%5C..%5Cdemo.whl",
        "../../packages/ab/demo%00.whl",
        "../../packages/",
    ],
)
def test_a_path_that_could_leave_packages_is_refused(link: str) -> None:
    with pytest.raises(ValueError, match="unsafe path"):
        packages_path(PAGE, link)


def test_coverage() -> None:
    everything = Coverage(None, packages=True)
    some = Coverage(frozenset({"a", "b"}), packages=True)
    pages_only = Coverage(None, packages=False)
    assert everything.covers(some) and everything.covers(everything)
    assert some.covers(Coverage(frozenset({"a"}), True))
    assert not some.covers(everything)
    assert not some.covers(Coverage(frozenset({"a", "c"}), True))
    assert not pages_only.covers(some) and pages_only.covers(Coverage(frozenset({"a"}), False))
    for coverage in (everything, some, pages_only):
        assert Coverage.from_dict(coverage.to_dict()) == coverage
    with pytest.raises(ValueError, match="projects"):
        Coverage.from_dict({"projects": "a", "packages": True})
