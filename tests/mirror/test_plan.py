"""The pure decisions of a mirror sync: what changed, where a file lands, what is covered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuf_pypi.client import SetupError
from tuf_pypi.layout import LayoutError, check_relative_path
from tuf_pypi.mirror.plan import (
    Coverage,
    changed_roles,
    check_metadata_filename,
    check_version,
    packages_path,
    page_copy_path,
)
from tuf_pypi.mirror.tree import MirrorTree

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
    with pytest.raises(LayoutError, match="unsafe path"):
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
    with pytest.raises(SetupError, match="projects"):
        Coverage.from_dict({"projects": "a", "packages": True})


UNSAFE_PATHS = [
    "",
    "/etc/passwd",
    "a//b",
    "a/./b",
    "a/../b",
    "..",
    "a/",
    "a\x00b",
    "a\\b",
    "a\nb",
    "a\x7fb",
]


@pytest.mark.parametrize("path", UNSAFE_PATHS)
def test_check_relative_path_refuses_what_could_leave_a_directory(path: str) -> None:
    with pytest.raises(LayoutError, match="plain relative path"):
        check_relative_path(path)


def test_check_relative_path_keeps_plain_paths() -> None:
    assert check_relative_path("ab/cd/demo-1.0+local.whl") == "ab/cd/demo-1.0+local.whl"
    assert check_relative_path(".hidden/x..y") == ".hidden/x..y"


@pytest.mark.parametrize(
    "name",
    [
        "1.bin-0a.json",
        "12.snapshot.json",
        "timestamp.json",
        "root.json",
        "3.bins.json",
    ],
)
def test_metadata_file_names_of_layout_roles(name: str) -> None:
    assert check_metadata_filename(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "1.x/../../escape.json",
        "1../escape.json",
        "0.bin-0.json",
        "True.bin-0.json",
        "1.Bins.json",
        "1.bin-0.json.gz",
        "1.bin\x00.json",
        "1.bin-0.json\n",
    ],
)
def test_other_metadata_file_names_are_refused(name: str) -> None:
    with pytest.raises(LayoutError):
        check_metadata_filename(name)


@pytest.mark.parametrize("version", [0, -1, True, 1.0, "1", None])
def test_versions_in_file_names_are_positive_integers(version: object) -> None:
    with pytest.raises(LayoutError, match="positive integer"):
        check_version(version)
    assert check_version(7) == 7


def test_mirror_tree_paths_stay_inside_their_tree(tmp_path: Path) -> None:
    tree = MirrorTree(tmp_path / "mirror")
    assert tree.path("packages/ab/demo.whl") == tmp_path / "mirror/packages/ab/demo.whl"
    for bad in ["state/x", "packages", "../x", "simple/../../x", "/tmp/x"]:
        with pytest.raises(LayoutError):
            tree.path(bad)
    with pytest.raises(LayoutError):
        tree.write_metadata("1.x/../../escape.json", b"{}", compress=False)
    # A tree that is itself a link (packages/ on another disk) is fine; a link below it
    # that leads out is not.
    (tmp_path / "disk/ab").mkdir(parents=True)
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror/packages").symlink_to(tmp_path / "disk")
    tree.write("packages/ab/demo.whl", b"wheel")
    assert (tmp_path / "disk/ab/demo.whl").read_bytes() == b"wheel"
    (tmp_path / "disk/out").symlink_to(tmp_path)
    with pytest.raises(SetupError, match="outside"):
        tree.write("packages/out/demo.whl", b"wheel")
    with pytest.raises(SetupError, match="outside"):
        tree.read("packages/out/demo.whl")
    assert not (tmp_path / "demo.whl").exists()
