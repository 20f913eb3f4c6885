"""The one validating normalizer (``layout.project_name``) and role-name shapes."""

from __future__ import annotations

import pytest

from tuf_pypi import layout

HOSTILE_NAMES = [
    "foo\n",
    "foo\r\n",
    "\u017fix",  # LATIN SMALL LETTER LONG S: folds to 's' under IGNORECASE
    "\u0131dna",  # LATIN SMALL LETTER DOTLESS I
    "\u212a",  # KELVIN SIGN: folds to 'k'
    "..",
    "a/b",
    "a\x00b",
    " foo",
    "",
    "-foo",
    "foo-",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_project_name_refuses_names_that_are_not_ascii_pep_508(name: str) -> None:
    with pytest.raises(layout.LayoutError, match="not a valid project name"):
        layout.project_name(name)
    assert not layout.is_normalized(name)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("Foo_Bar", "foo-bar"), ("zope.interface", "zope-interface"), ("A--B__c", "a-b-c")],
)
def test_project_name_normalizes_valid_names(raw: str, normalized: str) -> None:
    assert layout.project_name(raw) == normalized
    assert layout.is_normalized(normalized)


@pytest.mark.parametrize(
    "role",
    ["root", "targets", "snapshot", "timestamp", "bins", "bin-0", "bin-3fff"],
)
def test_role_names_of_the_layout_are_accepted(role: str) -> None:
    assert layout.check_role_name(role) == role


@pytest.mark.parametrize(
    "role",
    [
        "../evil",
        "bin-00/../../x",
        "/etc/passwd",
        "bin-0\x00",
        "bin-",
        "bin-G",
        "BIN-00",
        "bin-00\n",
        "evil",
        "",
        7,
        None,
        "bin-123456789",
    ],
)
def test_other_role_names_are_refused(role: object) -> None:
    with pytest.raises(layout.LayoutError):
        layout.check_role_name(role)


def test_bin_role_width_is_checked_when_the_count_is_known() -> None:
    assert layout.check_role_name("bin-3ff", 1024) == "bin-3ff"
    with pytest.raises(layout.LayoutError, match="3 hex digits"):
        layout.check_role_name("bin-03ff", 1024)
