"""The fast HTML tier of :mod:`tuf_pypi.pages`: a narrow exact grammar, or "not mine".

Strict parsing of every page is what DESIGN §3 rests on, and it used to cost more
than everything else in a full publish (``html.parser`` spends ~8 µs per link).
Nearly every page is written by a program (Warehouse, bandersnatch, our own
generators) in one regular shape. The functions here accept only that shape and
return what the full parser would have produced from it; for anything else they
return None and :mod:`tuf_pypi.pages.html` runs the full parser. So the fast path can
only ever accept a subset of what the full parser accepts, with identical results,
and strictness is unchanged. ``tests/performance/test_pages_fast.py`` checks
that differentially on real pages, sample pages, generated pages and many random
mutations of them.

Nothing here validates links: both paths hand the same collected anchors to the
same validation code in :mod:`tuf_pypi.pages.html`. (``pages.check_page`` goes
further for publishing: it checks whole runs of link lines, and of JSON file
entries, with one regular expression each, and reads what lies between them with
this grammar, in :mod:`tuf_pypi.pages.checks`.)
"""

from __future__ import annotations

import re

__all__ = ["ATTR_VALUE", "HtmlAnchors", "collect_html"]

#: ``(line, attributes, text parts)`` per anchor, and ``(line, content)`` per
#: repository-version meta tag: what ``html._LinkCollector`` collects.
HtmlAnchors = tuple[
    list[tuple[int, dict[str, str | None], list[str]]], list[tuple[int, str | None]]
]

# An attribute value: no quotes, markup, control characters, and only the five
# character references whose meaning every HTML parser agrees on.
# (Written as "unrolled loop", so a near miss fails in linear time.)
_PLAIN = r'[^"<>&\x00-\x1f\x7f]*'
ATTR_VALUE = rf"{_PLAIN}(?:&(?:lt|gt|amp|quot|\#39);{_PLAIN})*"
_LINK_ATTRS = (
    "data-requires-python",
    "data-yanked",
    "data-core-metadata",
    "data-dist-info-metadata",
    "data-provenance",
    "data-upload-time",
    "data-gpg-sig",
)
_ATTR_NAMES = "|".join(_LINK_ATTRS)
_START_A = rf'<a\ href="(?P<href>{ATTR_VALUE})"(?P<attrs>(?:\ (?:{_ATTR_NAMES})="{ATTR_VALUE}")*)>'
# Tokens of the grammar, tried at each position. The first is an anchor's start
# tag, in the common case with its text, end tag and line end (a whole link
# line). Plain text has no '<', '>', '&' or CR; tags are exactly as written here
# (lowercase, no stray spaces); the title holds plain text only (parsers differ
# on markup inside it); comments have no '-', '!', '<', '>' inside (parsers
# differ on how '--' and '--!>' end them).
_TEXT = r"[^<>&\r\x00]"
_VERSION_TAG = (
    r'<meta\ name="pypi:repository-version"\ content="(?P<version>[^"<>&\x00-\x1f\x7f]*)">'
)
_OTHER_TAGS = rf"""
    <title>{_TEXT}*</title>
  | </?(?:html|head|body|h1)>|<br\ ?/?>|<!DOCTYPE\ html>
  | <!--[^-!<>\x00]+-->
"""
_TOKEN = re.compile(
    rf"""
    {_START_A}(?:(?P<link>{_TEXT}*)</a>(?:<br\ ?/?>)?\n?)?
  | (?P<text>{_TEXT}+)
  | (?P<end></a>)
  | {_VERSION_TAG}
  | {_OTHER_TAGS}
    """,
    re.VERBOSE,
)
# Text of the grammar without start tags, so without anchors: all it can give is
# version tags. Tags start with '<', which text lacks, so this matches in one way
# only and fails in linear time.
_NO_ANCHOR = re.compile(rf"{_TEXT}*(?:(?:</a>|{_VERSION_TAG}|{_OTHER_TAGS}){_TEXT}*)*", re.VERBOSE)
_VERSION = re.compile(_VERSION_TAG, re.VERBOSE)
_ATTR = re.compile(rf' ([a-z-]+)="({ATTR_VALUE})"')
_REFERENCE = re.compile(r"&(lt|gt|amp|quot|#39);")
_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "#39": "'"}


def _unescape(value: str) -> str:
    if "&" not in value:
        return value
    return _REFERENCE.sub(lambda m: _REFERENCES[m.group(1)], value)


def _versions(text: str) -> list[tuple[int, str | None]]:
    """The version tags of text in the grammar with no anchors, with their lines.

    Every ``<meta`` in such text starts a token (no token holds a '<' but at its
    start, or in an end tag), so a search finds exactly the tags the token loop
    would.
    """
    return [
        (text.count("\n", 0, tag.start()) + 1, tag.group("version"))
        for tag in _VERSION.finditer(text)
    ]


def collect_html(text: str) -> HtmlAnchors | None:
    """Anchors and version tags of a page in the narrow grammar, else None.

    Follows ``html._LinkCollector`` exactly: an ``<a>`` opens an anchor (closing
    any open one), ``</a>`` closes it, text inside an open anchor is its text,
    every other token leaves the anchor as it is; line numbers count ``\\n``
    before the tag, as ``HTMLParser.getpos()`` does. Text without anchors (such as
    the head and tail of a page, which ``pages.check_page`` reads apart from its
    link lines) is read by one ``fullmatch`` instead of token by token.
    """
    if _NO_ANCHOR.fullmatch(text):
        return [], _versions(text)
    anchors: list[tuple[int, dict[str, str | None], list[str]]] = []
    versions: list[tuple[int, str | None]] = []
    current: list[str] | None = None
    match = _TOKEN.match
    pos, end, line, counted = 0, len(text), 1, 0
    while pos < end:
        token = match(text, pos)
        if token is None:
            return None
        kind = token.lastgroup
        if kind == "text":
            if current is not None:
                current.append(token.group("text"))
        elif kind == "end":
            current = None
        elif kind in ("link", "attrs", "version"):
            line += text.count("\n", counted, pos)
            counted = pos
            if kind == "version":
                versions.append((line, token.group("version")))
            else:
                attrs: dict[str, str | None] = {"href": _unescape(token.group("href"))}
                if token.group("attrs"):
                    for name, value in _ATTR.findall(token.group("attrs")):
                        if name in attrs:
                            return None  # the full parser names the duplicate
                        attrs[name] = _unescape(value)
                # A whole link line: its text, and the anchor is closed again.
                current = [token.group("link")] if kind == "link" else []
                anchors.append((line, attrs, current))
                if kind == "link":
                    current = None
        elif current is not None and token.group().startswith("<title>"):
            return None  # title text inside a link: leave it to the full parser
        pos = token.end()
    return anchors, versions
