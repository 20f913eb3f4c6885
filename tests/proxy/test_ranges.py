"""Range requests on a file of known size, as pure logic (RFC 9110 §14)."""

from __future__ import annotations

import pytest

from tuf_pypi.proxy.ranges import ByteRange, RangeNotSatisfiableError, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 10)),
        ("bytes=990-", (990, 1000)),
        ("bytes=-20", (980, 1000)),
        ("bytes=-5000", (0, 1000)),  # a suffix longer than the file is the whole file
        ("bytes=500-99999", (500, 1000)),  # clamped to the end
        ("bytes=999-999", (999, 1000)),
        ("Bytes = 0-0", (0, 1)),
        ("bytes=0-9, 5000-6000", (0, 10)),  # the unsatisfiable one is dropped
        ("bytes= 0-9 ,", (0, 10)),  # empty list elements are allowed
    ],
)
def test_single_range(header: str, expected: tuple[int, int]) -> None:
    byte_range = parse_range(header, SIZE)
    assert byte_range == ByteRange(*expected, SIZE)
    start, stop = expected
    assert byte_range.length == stop - start
    assert byte_range.content_range == f"bytes {start}-{stop - 1}/{SIZE}"


@pytest.mark.parametrize(
    "header",
    [None, "items=0-5", "bytes", "0-5", "bytes=0-9,20-29"],
    ids=["none", "other-unit", "no-range-set", "no-unit", "several-ranges"],
)
def test_whole_file(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",  # starts at the end
        "bytes=5000-6000",
        "bytes=-0",
        "bytes=",
        "bytes=9-5",  # ends before it starts
        "bytes=a-b",
        "bytes=-",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=0-9, x",
        "bytes=" + "9" * 30 + "-",
    ],
)
def test_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError) as excinfo:
        parse_range(header, SIZE)
    assert excinfo.value.content_range == f"bytes */{SIZE}"


def test_empty_file_has_no_satisfiable_range() -> None:
    with pytest.raises(RangeNotSatisfiableError):
        parse_range("bytes=-10", 0)
    with pytest.raises(RangeNotSatisfiableError):
        parse_range("bytes=0-", 0)
