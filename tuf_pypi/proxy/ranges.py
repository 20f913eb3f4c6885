"""HTTP ``Range`` requests (RFC 9110 §14) on verified files.

uv, and pip's lazy wheel, read a wheel's central directory and ``METADATA`` with range
requests instead of downloading the whole file. The proxy answers them from its
verified copy of the file (it never streams unverified bytes, so a range is only served
once the whole file matched its page), which makes this pure arithmetic on a known size:

* one satisfiable range -> ``206 Partial Content`` with ``Content-Range``;
* no ``Range``, another unit, or several ranges -> the whole file with ``200`` (a server
  may ignore a Range header, and no installer asks for several ranges at once);
* a malformed ``bytes`` range set, or one that no byte of the file satisfies ->
  ``416 Range Not Satisfiable`` with ``Content-Range: bytes */<size>``.

Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ByteRange", "RangeNotSatisfiableError", "parse_range"]

# first-last, first-, or -suffix; digits only (no signs, no spaces inside a spec).
_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# Longer numbers are refused before int() (a 64-bit offset has at most 19 digits).
_MAX_DIGITS = 19


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``stop - 1`` of a file of ``size`` bytes."""

    start: int
    stop: int
    size: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header of a 206 answer."""
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


class RangeNotSatisfiableError(ValueError):
    """A ``bytes`` range set that is malformed, or that misses the file entirely."""

    def __init__(self, reason: str, size: int) -> None:
        super().__init__(reason, size)
        self.reason = reason
        self.size = size

    def __str__(self) -> str:
        return self.reason

    @property
    def content_range(self) -> str:
        """The ``Content-Range`` header of the 416 answer, giving the real size."""
        return f"bytes */{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The part of a ``size``-byte file that ``header`` asks for; None for all of it.

    Raises :class:`RangeNotSatisfiableError` for a malformed ``bytes`` range set, or
    one whose every range starts past the end (or is an empty suffix).
    """
    if header is None:
        return None
    unit, eq, range_set = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None  # RFC 9110 §14.2: ignore a range unit we do not know
    specs = [spec.strip() for spec in range_set.split(",") if spec.strip()]
    if not specs:
        raise RangeNotSatisfiableError(f"empty range set {header!r}", size)
    satisfiable = []
    for spec in specs:
        byte_range = _parse_spec(spec, size)
        if byte_range is not None:
            satisfiable.append(byte_range)
    if not satisfiable:
        raise RangeNotSatisfiableError(f"{header!r} asks for no byte of a {size}-byte file", size)
    return satisfiable[0] if len(satisfiable) == 1 else None


def _parse_spec(spec: str, size: int) -> ByteRange | None:
    """One range spec as a ByteRange; None when it is valid but unsatisfiable."""
    match = _SPEC.fullmatch(spec)
    if (
        match is None
        or not any(match.groups())
        or any(len(group) > _MAX_DIGITS for group in match.groups())
    ):
        raise RangeNotSatisfiableError(f"malformed byte range {spec!r}", size)
    first, last = match.groups()
    if not first:  # -suffix: the last N bytes
        suffix = int(last)
        return ByteRange(max(0, size - suffix), size, size) if suffix and size else None
    start = int(first)
    if last and int(last) < start:
        raise RangeNotSatisfiableError(f"byte range {spec!r} ends before it starts", size)
    if start >= size:
        return None
    stop = size if not last else min(int(last) + 1, size)
    return ByteRange(start, stop, size)
