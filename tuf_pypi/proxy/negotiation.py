"""PEP 691 content negotiation: which form of a page to send for an ``Accept`` header.

The proxy serves every project page in the three media types PEP 691 defines, whatever
form the index signed (:mod:`.pages` converts), so the choice is only about what
the installer asked for:

* ``application/vnd.pypi.simple.v1+json`` (pip >= 22.2 and uv ask for it first),
* ``application/vnd.pypi.simple.v1+html``,
* ``text/html`` (PEP 503; older installers and browsers).

``application/vnd.pypi.simple.latest+json`` and ``...latest+html`` are aliases of the v1
types; the response names the concrete v1 type, as PEP 691 asks. The client's q-values
decide; a media range only counts with its most specific match (``text/html;q=0`` beats
``*/*``); among equally wanted types, an exact match beats a wildcard, and ``text/html``
wins the remaining ties, so a bare ``*/*`` (curl, a browser) gets plain HTML as it would
from PyPI. No acceptable type means ``406 Not Acceptable``.

Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "HTML_V1",
    "JSON_V1",
    "REPRESENTATIONS",
    "TEXT_HTML",
    "Representation",
    "negotiate",
]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"

_ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
}
# RFC 9110 §12.4.2: "0" to "1", at most three decimals.
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# Specificity of a media range: an exact type beats "type/*", which beats "*/*".
_EXACT, _SUBTYPE_WILDCARD, _WILDCARD = 2, 1, 0


@dataclass(frozen=True)
class Representation:
    """One way to send a page: its media type and which renderer produces it."""

    media_type: str
    form: Literal["json", "html"]

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header: HTML says its charset, JSON is UTF-8 by definition."""
        return self.media_type if self.form == "json" else f"{self.media_type}; charset=utf-8"


#: What the proxy can send, in the order that breaks ties (first wins).
REPRESENTATIONS: tuple[Representation, ...] = (
    Representation(TEXT_HTML, "html"),
    Representation(HTML_V1, "html"),
    Representation(JSON_V1, "json"),
)


@dataclass(frozen=True)
class _MediaRange:
    media_type: str
    q: float

    def specificity(self, media_type: str) -> int | None:
        """How specifically this range matches ``media_type``; None if it does not."""
        if self.media_type == media_type:
            return _EXACT
        if self.media_type == "*/*":
            return _WILDCARD
        kind, _, subtype = self.media_type.partition("/")
        if subtype == "*" and media_type.startswith(kind + "/"):
            return _SUBTYPE_WILDCARD
        return None


def negotiate(accept: str | None) -> Representation | None:
    """The representation to send for an ``Accept`` header value; None means 406.

    A missing or empty header accepts anything (RFC 9110 §12.5.1). Malformed members
    (no ``/``, a q-value that is not a number from 0 to 1) are ignored rather than
    refused, as browsers and proxies send odd headers; a header made only of such
    members therefore accepts nothing.
    """
    if accept is None or not accept.strip():
        return REPRESENTATIONS[0]
    ranges = _parse_accept(accept)
    best: tuple[float, int, int] | None = None
    chosen: Representation | None = None
    for preference, representation in enumerate(REPRESENTATIONS):
        matched = _quality(ranges, representation.media_type)
        if matched is None or matched[0] <= 0:
            continue
        key = (matched[0], matched[1], -preference)
        if best is None or key > best:
            best, chosen = key, representation
    return chosen


def _quality(ranges: list[_MediaRange], media_type: str) -> tuple[float, int] | None:
    """(q, specificity) of the most specific range matching ``media_type``."""
    found: tuple[int, float] | None = None
    for media_range in ranges:
        specificity = media_range.specificity(media_type)
        if specificity is not None and (found is None or specificity > found[0]):
            found = (specificity, media_range.q)
    return None if found is None else (found[1], found[0])


def _parse_accept(accept: str) -> list[_MediaRange]:
    ranges = []
    for member in accept.split(","):
        media_type, *params = (part.strip() for part in member.split(";"))
        media_type = media_type.lower()
        if media_type.count("/") != 1 or media_type.startswith("/") or media_type.endswith("/"):
            continue
        q = _q_value(params)
        if q is None:
            continue
        ranges.append(_MediaRange(_ALIASES.get(media_type, media_type), q))
    return ranges


def _q_value(params: list[str]) -> float | None:
    """The ``q`` parameter (1 when absent); None when it is malformed."""
    for param in params:
        name, eq, value = param.partition("=")
        if name.strip().lower() != "q":
            continue
        value = value.strip()
        return float(value) if eq and _QVALUE.fullmatch(value) else None
    return 1.0
