"""The publish-time fast checks: "valid?" and the unverifiable-link count, fast.

They decide only pages in the shapes that index software writes, and return None
for anything else: "not decided here", the caller runs the full parser, which
accepts the page or names the rule broken. The bulk of a page (its run of link
lines, or of JSON file entries) is checked and taken apart by one regular
expression, in C; Python code runs per page and per unusual link, not per link.
Each decided page also says which tier decided it: ``"runs"`` (every link in a
run checked by the one regular expression) or ``"checks"`` (some links, or the
loaded JSON entries, checked one by one).
"""

from __future__ import annotations

import re
from typing import Any

from .fields import (
    _JSON_FILE_KEYS,
    _JSON_MEMBERS,
    _PLAIN_FILENAME,
    _SHA256_DIGITS,
    _SHA256_HEX,
    _SIMPLE_URL,
)
from .grammar import ATTR_VALUE, collect_html
from .html import _api_version, _Attrs
from .json import _load_json, _require
from .model import _check_api_version, _decode, _first_char, _Reject

#: Which tier of :func:`tuf_pypi.pages.check_page` decided a page, and the count.
Counted = tuple[str, int]

# ``_SIMPLE_URL`` cut at the last '/' of its path: what comes before the path, and
# the path's characters but '/' (test_pages_fast checks the pieces agree with it).
_URL_START = r"(?:https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|(?:\.\.?/)*\.\.?|)"
_NAME_CHAR = r"[A-Za-z0-9._~!$'()*+,;=:@-]"
_PATH_CHAR = r"[A-Za-z0-9._~!$'()*+,;=:@/-]"
_PLAIN_METADATA_VALUE = rf"(?:true|sha256={_SHA256_DIGITS})"

# One link line as Warehouse, bandersnatch and make_index write it, holding only
# what ``_html_link`` accepts as is: a ``_SIMPLE_URL`` ending in a file name (group
# 1; no '&', so unescaping is the identity) with an optional sha256 (group 2), the
# known attributes, each at most once because their order is fixed, PEP 658
# metadata given as ``true`` or a sha256, and link text that is the file name
# (``\1``). The line break and the next line's indent are ignored by both parsers
# after a closed anchor. Every part is a subset of the fast grammar (:mod:`.grammar`), and
# nothing in that grammar but a start tag holds ``<a href="`` (see _split_links).
# (Optional parts are written ``(?:...|)``: ``re`` runs that faster than ``?``.)
_LINK_LINE = re.compile(
    rf'<a href="{_URL_START}/(?:(?!/){_PATH_CHAR}*/|)(?!\.\.?[#"])({_NAME_CHAR}+)'
    rf'(?:#sha256=({_SHA256_DIGITS})|)"'
    rf'(?: data-requires-python="{ATTR_VALUE}"|)(?: data-yanked="{ATTR_VALUE}"|)'
    rf'(?: data-dist-info-metadata="{_PLAIN_METADATA_VALUE}"'
    rf'(?: data-core-metadata="{_PLAIN_METADATA_VALUE}"|)'
    rf'| data-core-metadata="{_PLAIN_METADATA_VALUE}"'
    rf'(?: data-dist-info-metadata="{_PLAIN_METADATA_VALUE}"|)|)'
    rf'(?: data-provenance="{ATTR_VALUE}"|)(?: data-upload-time="{ATTR_VALUE}"|)'
    rf'(?: data-gpg-sig="{ATTR_VALUE}"|)'
    r">\1</a>(?:<br ?/?>|)(?:\n[ \t]*|)"
)

# A plain file URL with an optional sha256 fragment: what ``_html_link`` accepts
# with no further checks (``_SIMPLE_URL`` has no control characters, spaces or
# '%', and only the schemes http/https).
_PLAIN_HREF = re.compile(rf"({_SIMPLE_URL.pattern})(?:#sha256=([0-9a-f]{{64}}))?")
_PLAIN_METADATA = re.compile(_PLAIN_METADATA_VALUE)
_UNCHECKED_ATTRS = frozenset(
    {
        "href",
        "data-requires-python",
        "data-yanked",
        "data-provenance",
        "data-upload-time",
        "data-gpg-sig",
    }
)


def _count_html(data: bytes) -> Counted | None:
    """The tier and unverifiable-link count of a valid HTML page in the usual shape.

    None for any other page. Link lines in the shape of ``_LINK_LINE`` are found
    and checked by one ``split``; what lies between them (the head and tail of the
    page, and any unusual link) goes through the fast grammar (:mod:`.grammar`) and
    ``_plain_anchor``. The tier is ``"runs"`` if no link lay between.
    """
    try:
        text = _decode(data)
    except _Reject:
        return None
    if _first_char(text) in ("{", "["):
        return None
    names, digests, between = _split_links(text)
    runs = len(names)
    versions: list[tuple[int, str | None]] = []
    for segment in between:
        collected = collect_html(segment)
        if collected is None:
            return None
        anchors, found = collected
        versions += found
        for _line, attrs, text_parts in anchors:
            link = _plain_anchor(attrs, text_parts)
            if link is None:
                return None
            names.append(link[0])
            digests.append(link[1])
    try:
        _api_version(versions)
    except _Reject:
        return None
    count = _count_listed(names, digests)
    if count is None:
        return None
    return ("runs" if len(names) == runs else "checks"), count


def _split_links(text: str) -> tuple[list[str], list[str | None], list[str]]:
    """File names and sha256 digests of the link lines, and the non-empty text between.

    The pieces between can be read on their own, each from a state with no anchor
    open, exactly as they are read within the page: no token of the fast
    grammar holds ``<a href="`` but at its start, so none spans a link line; a link
    line closes any anchor open before it, and leaves none open after it. (Line
    numbers restart in each piece, but they only appear in errors, which this path
    leaves to the full parser.)
    """
    parts = _LINK_LINE.split(text)
    return parts[1::3], parts[2::3], list(filter(None, parts[::3]))


def _plain_anchor(attrs: _Attrs, text_parts: list[str]) -> tuple[str, str | None] | None:
    """``(file name, sha256)`` of an anchor that ``_html_link`` accepts as is, else None."""
    href = attrs["href"]
    match = _PLAIN_HREF.fullmatch(href) if href is not None else None
    if match is None:
        return None
    url, sha256 = match.groups()
    name = url.rpartition("/")[2]
    if name in ("", ".", ".."):
        return None
    link_text = "".join(text_parts).strip()
    if link_text and link_text != name:
        return None
    for attr, value in attrs.items():
        if attr not in _UNCHECKED_ATTRS and (value is None or not _PLAIN_METADATA.fullmatch(value)):
            return None  # data-core-metadata / data-dist-info-metadata: full check
    return name, sha256


def _count_listed(names: list[str], digests: list[str | None]) -> int | None:
    """How many links have no sha256; None if a file is listed with two digests.

    ``_page`` refuses a file listed twice with different hashes (on these paths a
    link's hashes are its sha256 or nothing). Sets built in C tell whether any name
    comes with two digests, without a Python loop over the links.
    """
    files = len(set(names))
    if files != len(names) and len(set(zip(names, digests, strict=True))) != files:
        return None
    return digests.count(None)


_JSON_SEPARATORS = frozenset({",", ", "})


def _json_entry(keys: tuple[str, ...]) -> re.Pattern[str]:
    """A file entry with the members in this order, each optional but the required ones.

    A fixed order means no key can be given twice, which ``json.loads`` would not
    tell; whitespace is what ``json.dumps`` writes, compact or not. (Optional
    members are written ``(?:...|)``, which ``re`` runs faster than ``(?:...)?``.)
    """
    first = min(keys.index(key) for key in _JSON_FILE_KEYS)
    members = []
    for index, key in enumerate(keys):
        member = f'"{key}": ?{_JSON_MEMBERS[key].plain}'
        if index < first:
            members.append(f"(?:{member}, ?|)")
        elif index == first:
            members.append(member)
        elif key in _JSON_FILE_KEYS:
            members.append(f", ?{member}")
        else:
            members.append(f"(?:, ?{member}|)")
    return re.compile(rf"\{{{''.join(members)}\}}")


# Entries as make_index and sample write them, and with sorted keys as Warehouse does,
# told apart by the member after the file name.
_JSON_ENTRIES = {
    "url": _json_entry(tuple(_JSON_MEMBERS)),
    "hashes": _json_entry(tuple(sorted(_JSON_MEMBERS))),
}
_JSON_SECOND_MEMBER = re.compile(r'"filename": ?"[^"\\]*", ?"(url|hashes)"')


def _count_json(data: bytes) -> Counted | None:
    """The tier and unverifiable-link count of a valid JSON page in the usual shape.

    None for any other page. Pages whose file entries all match ``_JSON_ENTRIES``
    (in the order of the first entry) are decided by ``_count_entry_run`` (tier
    ``"runs"``); others by ``_count_json_entries``, which loads the page
    (``"checks"``).
    """
    try:
        text = _decode(data)
    except _Reject:
        return None
    if _first_char(text) == "<":
        return None
    order = _JSON_SECOND_MEMBER.search(text)
    if order is not None:
        count = _count_entry_run(_JSON_ENTRIES[order.group(1)].split(text))
        if count is not None:
            return "runs", count
    count = _count_json_entries(text)
    return None if count is None else ("checks", count)


def _count_entry_run(parts: list[str | None]) -> int | None:
    """The count for a page split on file entries, if they are its whole ``files``.

    Only the rest of the page (``head + tail``) is loaded, with a number put where
    the entries were. If ``files`` is then that number alone, the entries were
    exactly the ``files`` array: the number's text is nowhere else in the page, so
    ``files`` is where it was put. The rest being valid and each entry a valid
    entry, the whole page is valid.
    """
    if len(parts) == 1 or not _JSON_SEPARATORS.issuperset(parts[3:-1:3]):
        return None
    head, tail = parts[0], parts[-1]
    assert head is not None and tail is not None  # split's text, not a group
    gap = str(_GAP)
    if gap in head or gap in tail:
        return None
    files = _json_files(head + gap + tail)
    # ``type``: the float 458458458458.0 would compare equal.
    if files is None or len(files) != 1 or type(files[0]) is not int or files[0] != _GAP:
        return None
    return _count_listed(parts[1::3], parts[2::3])


# An integer has one JSON text only (no sign, no leading zeros): see _count_entry_run.
_GAP = 458_458_458_458


def _json_files(text: str) -> list[Any] | None:
    """The ``files`` array of a JSON page if the rules on the rest of it hold, else None.

    Whether ``_load_json`` would accept the text, without its error messages.
    """
    try:
        doc = _load_json(text)
        if type(doc) is not dict:
            return None
        _check_api_version(_require(_require(doc, "meta", dict), "api-version", str, "meta"))
        if not _require(doc, "name", str):
            return None
        return _require(doc, "files", list)
    except (_Reject, ValueError, RecursionError):
        return None


def _count_json_entries(text: str) -> int | None:
    """The count for a loaded page whose entries ``_plain_entry`` accepts, else None."""
    files = _json_files(text)
    if files is None:
        return None
    names: list[str] = []
    digests: list[str | None] = []
    for entry in files:
        link = _plain_entry(entry)
        if link is None:
            return None
        names.append(link[0])
        digests.append(link[1])
    return _count_listed(names, digests)


def _plain_hashes(value: object) -> tuple[bool, str | None]:
    """``(plain?, sha256)``: True for ``{}`` and ``{"sha256": <64 lowercase hex>}``."""
    if type(value) is not dict:
        return False, None
    if not value:
        return True, None
    if len(value) == 1:
        digest = value.get("sha256")
        if type(digest) is str and _SHA256_HEX.fullmatch(digest):
            return True, digest
    return False, None


def _plain_entry(entry: object) -> tuple[str, str | None] | None:
    """``(filename, sha256)`` of a file entry ``_json_link`` accepts as is, else None.

    The required members must be plain (file names and URLs that need no further
    check, sha256 only, so that ``_count_listed`` sees every hash); every other
    member is checked by its rule in ``_JSON_MEMBERS``, the strict parser's own.
    Anything else is left to the full parser.
    """
    if type(entry) is not dict:
        return None
    filename = entry.get("filename")
    url = entry.get("url")
    if (
        type(filename) is not str
        or not _PLAIN_FILENAME.fullmatch(filename)
        or filename in (".", "..")
        or type(url) is not str
    ):
        return None
    match = _PLAIN_HREF.fullmatch(url)
    if match is None:
        return None
    plain, sha256 = _plain_hashes(entry.get("hashes"))
    if not plain:
        return None
    fragment = match.group(2)
    if fragment is not None:
        if sha256 is not None and sha256 != fragment:
            return None
        sha256 = fragment
    for key, value in entry.items():
        read = _OPTIONAL_READERS.get(key)
        if read is not None:  # unknown keys are ignored, as PEP 691 asks
            try:
                read(value)
            except _Reject:
                return None
    return filename, sha256


# The strict parser's rules for the optional members it reads, by key.
_OPTIONAL_READERS = {
    key: member.read
    for key, member in _JSON_MEMBERS.items()
    if member.read is not None and key not in _JSON_FILE_KEYS
}
