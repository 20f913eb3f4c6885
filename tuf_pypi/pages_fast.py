"""Fast path for :mod:`tuf_pypi.pages`: a narrow exact HTML grammar, or "not mine".

Strict parsing of every page is what DESIGN §3 rests on, and it used to cost more
than everything else in a full publish (``html.parser`` spends ~8 µs per link).
Nearly every page is written by a program (Warehouse, bandersnatch, our own
generators) in one regular shape. The functions here accept only that shape and
return what the full parser would have produced from it; for anything else they
return None and :mod:`tuf_pypi.pages` runs the full parser. So the fast path can
only ever accept a subset of what the full parser accepts, with identical results,
and strictness is unchanged. ``tests/performance/test_pages_fast.py`` checks
that differentially on real pages, sample pages, generated pages and many random
mutations of them.

Nothing here validates links: both paths hand the same collected anchors to the
same validation code in :mod:`tuf_pypi.pages`. JSON pages need no such path:
the C ``json`` module with the duplicate-key hook costs ~1 µs per file (parsing
without the hook and proving "no duplicates" by re-serializing was measured
slower), and the per-file checks are shared code either way.
"""

from __future__ import annotations

import re

__all__ = ["HtmlAnchors", "collect_html"]

#: ``(line, attributes, text parts)`` per anchor, and ``(line, content)`` per
#: repository-version meta tag: what ``pages._LinkCollector`` collects.
HtmlAnchors = tuple[
    list[tuple[int, dict[str, str | None], list[str]]], list[tuple[int, str | None]]
]

# An attribute value: no quotes, markup, control characters, and only the five
# character references whose meaning every HTML parser agrees on.
# (Written as "unrolled loop", so a near miss fails in linear time.)
_PLAIN = r'[^"<>&\x00-\x1f\x7f]*'
_VALUE = rf"{_PLAIN}(?:&(?:lt|gt|amp|quot|\#39);{_PLAIN})*"
_LINK_ATTRS = (
    "data-requires-python",
    "data-yanked",
    "data-core-metadata",
    "data-dist-info-metadata",
    "data-upload-time",
    "data-gpg-sig",
)
_START_A = (
    rf'<a\ href="(?P<href>{_VALUE})"(?P<attrs>(?:\ (?:{"|".join(_LINK_ATTRS)})="{_VALUE}")*)>'
)
# Tokens of the grammar, tried at each position. The first is an anchor's start
# tag, in the common case with its text, end tag and line end (a whole link
# line). Plain text has no '<', '>', '&' or CR; tags are exactly as written here
# (lowercase, no stray spaces); the title holds plain text only (parsers differ
# on markup inside it); comments have no '-', '!', '<', '>' inside (parsers
# differ on how '--' and '--!>' end them).
_TOKEN = re.compile(
    rf"""
    {_START_A}(?:(?P<link>[^<>&\r\x00]*)</a>(?:<br\ ?/?>)?\n?)?
  | (?P<text>[^<>&\r\x00]+)
  | (?P<end></a>)
  | <meta\ name="pypi:repository-version"\ content="(?P<version>[^"<>&\x00-\x1f\x7f]*)">
  | <title>[^<>&\r\x00]*</title>
  | </?(?:html|head|body|h1)>|<br\ ?/?>|<!DOCTYPE\ html>
  | <!--[^-!<>\x00]+-->
    """,
    re.VERBOSE,
)
_ATTR = re.compile(rf' ([a-z-]+)="({_VALUE})"')
_REFERENCE = re.compile(r"&(lt|gt|amp|quot|#39);")
_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "#39": "'"}


def _unescape(value: str) -> str:
    if "&" not in value:
        return value
    return _REFERENCE.sub(lambda m: _REFERENCES[m.group(1)], value)


def collect_html(text: str) -> HtmlAnchors | None:
    """Anchors and version tags of a page in the narrow grammar, else None.

    Follows ``pages._LinkCollector`` exactly: an ``<a>`` opens an anchor (closing
    any open one), ``</a>`` closes it, text inside an open anchor is its text,
    every other token leaves the anchor as it is; line numbers count ``\\n``
    before the tag, as ``HTMLParser.getpos()`` does.
    """
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
