"""Parse project detail pages of a Python package index into one model.

A detail page lists the files of one project, in either of two forms: PEP 503 HTML
(``index.html``, with the PEP 592, 658, 714 and 700 attributes) or PEP 691 JSON
(``index.v1_json``). Both are read into the same :class:`ProjectPage`.

A page verified through TUF is the root of trust for every distribution file: the
client checks each download against the sha256 that the page gives for it (DESIGN.md
§3). So this parser is strict. A page that could be read two ways, or that breaks the
specifications in a way that could change what a file link means, is refused with a
:class:`PageError` rather than guessed at; the error names the page and the rule.

Nothing here does I/O: callers pass the bytes and say where they came from.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

from .pages_fast import ATTR_VALUE, collect_html

__all__ = [
    "FORMS",
    "MAX_PAGE_BYTES",
    "FileLink",
    "PageError",
    "ProjectPage",
    "parse_html",
    "parse_json",
    "parse_page",
]

#: Pages larger than this are refused before they are decoded. PyPI's largest detail
#: pages are a few megabytes; the limit bounds the memory and time one page can cost.
MAX_PAGE_BYTES: int = 64 * 1024 * 1024

#: The file name of each page form, as bandersnatch lays a mirror out, to its form.
FORMS: dict[str, str] = {"index.html": "html", "index.v1_json": "json"}

# PEP 629: the major version changes only for changes old clients cannot handle.
_SUPPORTED_MAJOR = 1
_VERSION = re.compile(r"(\d+)\.(\d+)")

_HASH_NAME = re.compile(r"[a-z0-9_]{1,32}")
_HEX = re.compile(r"[0-9a-f]+")
# Hex digest lengths of the hashlib algorithms an index may name. A digest of any
# other length for these is a typo or a forgery, not a hash.
_DIGEST_HEX_LEN = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha3_224": 56,
    "sha3_256": 64,
    "sha3_384": 96,
    "sha3_512": 128,
    "blake2s": 64,
    "blake2b": 128,
}

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# URLs whose last path segment is simply what follows the last '/' (see _url_name).
_SIMPLE_URL = re.compile(
    r"(?:https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|(?:\.\.?/)*\.\.?|)/(?!/)[A-Za-z0-9._~!$'()*+,;=:@/-]*"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Schemes that run code or embed content instead of naming a file to download.
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript"})
_FIRST_CHAR = re.compile(r"\s*(\S)")
# How much of an HTML page is given to the parser at a time (see _LinkCollector.run).
_FEED_CHUNK = 1024 * 1024

_JSON_TYPES = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


class PageError(ValueError):
    """A page that cannot be trusted to mean what it says.

    ``str()`` names the source and the rule broken, so the message can be shown to
    an index operator as is. ``source`` is whatever the caller passed (a file path
    or a URL); ``reason`` is the rule broken, without the source.
    """

    def __init__(self, source: str, reason: str) -> None:
        # Both go to ValueError so that the exception survives pickling.
        super().__init__(source, reason)
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class FileLink:
    """One distribution file as a page lists it.

    ``hashes`` maps lowercase hash names to lowercase hex digests. ``yanked`` is False,
    True, or the reason given (a reason implies yanked). ``core_metadata`` says whether
    the PEP 658 ``.metadata`` file exists: False, True (present, hash unknown), or
    the hashes of that file. The two mappings take no part in ``hash()``, which
    keeps links usable in sets.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = field(hash=False)
    size: int | None = None
    requires_python: str | None = None
    yanked: bool | str = False
    core_metadata: bool | Mapping[str, str] = field(default=False, hash=False)
    upload_time: str | None = None

    @property
    def sha256(self) -> str | None:
        """The sha256 digest that a downloaded file must match; None if not given."""
        return self.hashes.get("sha256")

    @property
    def metadata_sha256(self) -> str | None:
        """The sha256 digest of the PEP 658 ``.metadata`` file, if the page gives one."""
        if isinstance(self.core_metadata, Mapping):
            return self.core_metadata.get("sha256")
        return None


@dataclass(frozen=True)
class ProjectPage:
    """The files of one project, whichever form the page had.

    ``name`` is the JSON ``name``; HTML pages do not state the project name in a
    machine-readable way, so it is None for them rather than a guess from the title.
    ``api_version`` is the PEP 629 / PEP 691 version the page declares, if any.
    """

    form: str
    name: str | None
    api_version: str | None
    files: tuple[FileLink, ...]
    _by_filename: dict[str, FileLink] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        by_filename: dict[str, FileLink] = {}
        for link in self.files:
            by_filename.setdefault(link.filename, link)
        object.__setattr__(self, "_by_filename", by_filename)

    def unverifiable(self) -> tuple[FileLink, ...]:
        """Links without a sha256, which a client cannot verify and must refuse.

        An md5 alone does not count: md5 collisions are cheap to make.
        """
        return tuple(link for link in self.files if link.sha256 is None)

    def find(self, filename: str) -> FileLink | None:
        """The link for ``filename`` (exact match), or None if the page has none."""
        return self._by_filename.get(filename)


class _Reject(Exception):
    """A rule broken, raised where the page's source is not known.

    The public functions turn it into a :class:`PageError` that names the source.
    """


def parse_html(data: bytes, source: str) -> ProjectPage:
    """Parse a PEP 503 HTML detail page.

    ``source`` (a path or URL) only serves to name the page in errors. Beyond the
    rules the PEPs state, some readings that installers could disagree on are
    refused: anchor text that differs from the file name at the end of the URL (pip
    names the file after the URL), ``<base href>`` (links would no longer resolve
    against the page URL), attributes given twice, control characters in URLs,
    markup left open at the end, and one file listed twice with different hashes.
    """
    try:
        text = _decode(data)
        if _first_char(text) in ("{", "["):
            raise _Reject("wrong content for the form: this is JSON, not an HTML page")
        collected = collect_html(text)
        if collected is not None:
            try:
                return _html_page(*collected)
            except _Reject:
                pass  # the full parser below gives the error, exactly as always
        collector = _LinkCollector()
        collector.run(text)
        return _html_page(collector.anchors, collector.versions)
    except _Reject as exc:
        raise PageError(source, str(exc)) from None


def _html_page(
    anchors: list[tuple[int, _Attrs, list[str]]], versions: list[tuple[int, str | None]]
) -> ProjectPage:
    api_version = _api_version(versions)
    links = []
    for line, attrs, text_parts in anchors:
        try:
            links.append(_html_link(attrs, "".join(text_parts)))
        except _Reject as exc:
            raise _Reject(f"link on line {line}: {exc}") from None
    return _page("html", None, api_version, links)


def parse_json(data: bytes, source: str) -> ProjectPage:
    """Parse a PEP 691 JSON detail page.

    ``source`` (a path or URL) only serves to name the page in errors. Keys given
    twice in one object are refused (JSON parsers disagree on which value wins), as
    are ``NaN``, ``Infinity`` and numbers too large for a float, escapes of NUL or of
    lone surrogates (not text), and nesting deeper than 64 levels (so that the verdict
    does not depend on the caller's stack). Unknown keys are ignored, as PEP 691 asks.
    A hash in a URL fragment is merged into ``hashes``, as pip does, and must agree
    with it.
    """
    try:
        text = _decode(data)
        if _first_char(text) == "<":
            raise _Reject("wrong content for the form: this is HTML, not a JSON page")
        doc = _load_json(text)
        if not isinstance(doc, dict):
            raise _Reject(f"the page must be a JSON object, not {_json_type(doc)}")
        meta = _require(doc, "meta", dict)
        api_version = _check_api_version(_require(meta, "api-version", str, "meta"))
        name = _require(doc, "name", str)
        if not name:
            raise _Reject("'name' is empty")
        files = _require(doc, "files", list)
        links = []
        for index, entry in enumerate(files):
            try:
                links.append(_json_link(entry))
            except _Reject as exc:
                label = f"files[{index}]"
                if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                    label += f" ({_show(entry['filename'])})"
                raise _Reject(f"{label}: {exc}") from None
        return _page("json", name, api_version, links)
    except _Reject as exc:
        raise PageError(source, str(exc)) from None


def parse_page(data: bytes, form: str, source: str) -> ProjectPage:
    """Parse a detail page of the given form.

    ``form`` is ``"html"`` or ``"json"``, or a page file name from :data:`FORMS`, so a
    caller holding a target path's basename need not map it first. Any other form
    is a mistake in the caller, not in the page, and raises a plain ValueError.
    """
    kind = FORMS.get(form, form)
    if kind == "html":
        return parse_html(data, source)
    if kind == "json":
        return parse_json(data, source)
    raise ValueError(f"unknown page form {form!r}: expected 'html', 'json' or one of {list(FORMS)}")


def check_page(data: bytes, form: str, source: str) -> int:
    """Validate a page as :func:`parse_page` does; return its number of unverifiable links.

    For publishing, which needs only "valid?" and that count. The usual page
    (HTML in the fast grammar of :mod:`tuf_pypi.pages_fast`, or JSON; plain URLs
    and file names, sha256 digests or none) is checked without building the page
    model, its run of link lines or file entries by one regular expression
    (``_LINK_LINE``, ``_JSON_ENTRIES``); anything else, and every page that
    breaks a rule, goes through :func:`parse_page`, so what is accepted and every
    error message are exactly its. ``tests/performance/test_pages_fast.py``
    checks that differentially.
    """
    kind = FORMS.get(form, form)
    count = None
    if kind == "html":
        count = _count_unverifiable_html(data)
    elif kind == "json":
        count = _count_unverifiable_json(data)
    if count is not None:
        return count
    return len(parse_page(data, form, source).unverifiable())


# --- check_page fast paths -----------------------------------------------------------
#
# They decide only pages in the shapes that index software writes, and return None
# for anything else: "not decided here", the caller runs the full parser, which
# accepts the page or names the rule broken. The bulk of a page (its run of link
# lines, or of JSON file entries) is checked and taken apart by one regular
# expression, in C; Python code runs per page and per unusual link, not per link.

# A lowercase hex digit. The NUL changes nothing (these paths only see text that
# ``_decode`` accepted, which has none) but makes ``re`` compile the class to a
# bitmap, tested about twice as fast as two ranges; digests are much of a page.
_HEX_DIGIT = r"[0-9a-f\x00]"
_SHA256_DIGITS = rf"{_HEX_DIGIT}{{64}}"
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
# after a closed anchor. Every part is a subset of the ``pages_fast`` grammar, and
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


def _count_unverifiable_html(data: bytes) -> int | None:
    """The unverifiable-link count of a valid HTML page in the usual shape, else None.

    Link lines in the shape of ``_LINK_LINE`` are found and checked by one
    ``split``; what lies between them (the head and tail of the page, and any
    unusual link) goes through the ``pages_fast`` grammar and ``_plain_anchor``.
    """
    try:
        text = _decode(data)
    except _Reject:
        return None
    if _first_char(text) in ("{", "["):
        return None
    names, digests, between = _split_links(text)
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
    return _count_listed(names, digests)


def _split_links(text: str) -> tuple[list[str], list[str | None], list[str]]:
    """File names and sha256 digests of the link lines, and the non-empty text between.

    The pieces between can be read on their own, each from a state with no anchor
    open, exactly as they are read within the page: no token of the ``pages_fast``
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


_PLAIN_FILENAME = re.compile(r"[A-Za-z0-9._+~!-]+")
_JSON_FILE_KEYS = frozenset({"filename", "url", "hashes"})
# A JSON string without escapes, so its text is its value.
_JSON_STRING = r'"[^"\\\x00-\x1f]*"'
_JSON_METADATA = rf'(?:true|false|\{{(?:"sha256": ?"{_SHA256_DIGITS}")?\}})'
# File entry members as ``_count_json_entries`` accepts them, in PEP 691's order.
# The groups are the file name and the sha256 of ``hashes``; URLs have no fragment.
# The last two are not read by tuf-pypi (Warehouse writes them).
_JSON_MEMBERS = {
    "filename": rf'"(?!\.\.?")({_PLAIN_FILENAME.pattern})"',
    "url": rf'"{_SIMPLE_URL.pattern}"',
    "hashes": rf'\{{(?:"sha256": ?"({_SHA256_DIGITS})")?\}}',
    "requires-python": rf"(?:null|{_JSON_STRING})",
    "size": r"(?:0|[1-9][0-9]{0,17})",  # an int: far below the limit on digits
    "upload-time": _JSON_STRING,
    "yanked": rf"(?:true|false|{_JSON_STRING})",
    "core-metadata": _JSON_METADATA,
    "dist-info-metadata": _JSON_METADATA,
    "data-dist-info-metadata": _JSON_METADATA,
    "provenance": rf"(?:null|{_JSON_STRING})",
}
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
        member = f'"{key}": ?{_JSON_MEMBERS[key]}'
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


def _count_unverifiable_json(data: bytes) -> int | None:
    """The unverifiable-link count of a valid JSON page in the usual shape, else None.

    Pages whose file entries all match ``_JSON_ENTRIES`` (in the order of the
    first entry) are decided by ``_count_entry_run``; others by
    ``_count_json_entries``, which loads the page.
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
            return count
    return _count_json_entries(text)


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


@functools.cache
def _strict_decoder() -> json.JSONDecoder:
    """A decoder with the hooks of ``_load_json``, built once.

    ``json.loads`` with hooks builds a decoder per call, which costs as much as
    loading the rest of a page (without its file entries) does.
    """
    return json.JSONDecoder(
        object_pairs_hook=_unique_keys, parse_constant=_reject_constant, parse_float=_finite_float
    )


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

    Same checks as ``_json_link`` for the common case (plain file names and URLs,
    sha256 only); anything else is left to the full parser.
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
        if key in _JSON_FILE_KEYS:
            continue
        if key == "size":
            ok = type(value) is int and value >= 0
        elif key == "requires-python":
            ok = value is None or type(value) is str
        elif key == "yanked":
            ok = type(value) is bool or type(value) is str
        elif key == "upload-time":
            ok = type(value) is str
        elif key in ("core-metadata", "dist-info-metadata"):
            ok = type(value) is bool or _plain_hashes(value)[0]
        else:
            ok = True  # unknown keys are ignored, as PEP 691 asks
        if not ok:
            return None
    return filename, sha256


# --- shared rules ---------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if not isinstance(data, (bytes, bytearray)):
        # The size limit and UTF-8 rule apply to the bytes as served.
        raise TypeError(f"pages are parsed from bytes, not {type(data).__name__}")
    if len(data) > MAX_PAGE_BYTES:
        raise _Reject(f"page is {len(data)} bytes, over the limit of {MAX_PAGE_BYTES} bytes")
    data = bytes(data)
    nul = data.find(b"\0")
    if nul != -1:
        raise _Reject(f"NUL byte at byte offset {nul}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Reject(f"not valid UTF-8 at byte offset {exc.start}") from None
    if not text.strip():
        raise _Reject("empty page")
    return text


def _first_char(text: str) -> str:
    match = _FIRST_CHAR.match(text)
    return match.group(1) if match else ""


def _show(value: object, limit: int = 80) -> str:
    """repr() for messages: quoted, control characters escaped, long values cut."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _check_api_version(value: str | None) -> str:
    match = _VERSION.fullmatch(value or "")
    if value is None or match is None:
        raise _Reject(f"malformed repository version {_show(value)}: expected <major>.<minor>")
    if int(match.group(1)) != _SUPPORTED_MAJOR:
        raise _Reject(
            f"unsupported repository version {value}: "
            f"only {_SUPPORTED_MAJOR}.x pages can be read by this version of tuf-pypi"
        )
    return value


def _check_hash(name: str, value: str) -> tuple[str, str]:
    """Validate one hash; return (lowercase name, lowercase hex digest)."""
    if name == "sha256" and _SHA256_HEX.fullmatch(value):
        return name, value  # the usual case, already in the form returned
    alg = name.lower()
    if not _HASH_NAME.fullmatch(alg):
        raise _Reject(f"malformed hash name {_show(name)}")
    digest = value.lower()
    expected = _DIGEST_HEX_LEN.get(alg)
    if expected is not None:
        valid = len(digest) == expected and bool(_HEX.fullmatch(digest))
        wanted = f"{expected} hex digits"
    else:
        valid = 32 <= len(digest) <= 128 and len(digest) % 2 == 0 and bool(_HEX.fullmatch(digest))
        wanted = "an even number (32 to 128) of hex digits"
    if not valid:
        raise _Reject(f"{alg} digest {_show(value)} is not {wanted}")
    return alg, digest


def _check_filename(name: str) -> str:
    # The file name becomes a path component on mirrors and in caches.
    if not name:
        raise _Reject("empty filename")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise _Reject(f"filename {_show(name)} is not a plain file name")
    if _CONTROL.search(name):
        raise _Reject(f"filename {_show(name)} contains control characters")
    if name != name.strip():
        # HTML link text is read stripped, and some file systems drop trailing spaces:
        # such a name would not name the same file everywhere.
        raise _Reject(f"filename {_show(name)} starts or ends with white space")
    return name


def _check_url(url: str) -> None:
    if not url.strip():
        raise _Reject("empty URL")
    # Clients disagree on control characters in URLs (browsers drop some, others keep
    # them), so a URL containing one could name different files to different clients.
    if _CONTROL.search(url):
        raise _Reject(f"URL {_show(url)} contains control characters")
    match = _SCHEME.match(url.lstrip(" "))
    if match and match.group(1).lower() in _FORBIDDEN_SCHEMES:
        raise _Reject(f"URL {_show(url)} has the forbidden scheme {match.group(1)}:")


def _split_fragment(url: str) -> tuple[str, dict[str, str]]:
    """Remove the fragment from ``url``; return the URL and the hash it gives."""
    bare, _, fragment = url.partition("#")
    if not fragment:
        return bare, {}
    name, eq, value = fragment.partition("=")
    if not eq:
        raise _Reject(
            f"malformed hash fragment {_show('#' + fragment)}: expected #<hashname>=<hexdigest>"
        )
    try:
        alg, digest = _check_hash(name, value)
    except _Reject as exc:
        raise _Reject(f"malformed hash fragment {_show('#' + fragment)}: {exc}") from None
    return bare, {alg: digest}


def _page(
    form: str, name: str | None, api_version: str | None, links: list[FileLink]
) -> ProjectPage:
    seen: dict[str, FileLink] = {}
    for link in links:
        first = seen.setdefault(link.filename, link)
        if first is not link and first.hashes != link.hashes:
            # Which of the two is the file? A client and pip could pick differently.
            raise _Reject(f"file {_show(link.filename)} is listed twice with different hashes")
    return ProjectPage(form=form, name=name, api_version=api_version, files=tuple(links))


# --- HTML -----------------------------------------------------------------------------

_Attrs = dict[str, str | None]


def _unique_attrs(tag: str, attrs: list[tuple[str, str | None]]) -> _Attrs:
    result = dict(attrs)
    if len(result) != len(attrs):
        counts = Counter(name for name, _ in attrs)
        twice = sorted(name for name, count in counts.items() if count > 1)
        # Browsers keep the first, other parsers the last: ambiguous.
        raise _Reject(f"<{tag}> has the attribute {', '.join(twice)} more than once")
    return result


class _LinkCollector(HTMLParser):
    """Collect anchors, their text, and the repository version meta tag.

    Validation happens afterwards, so this stays a thin pass over the markup.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[int, _Attrs, list[str]]] = []
        self.versions: list[tuple[int, str | None]] = []
        self._text: list[str] | None = None

    def run(self, text: str) -> None:
        """Parse ``text`` in linear time, refusing markup left open at the end.

        On markup still open at the end of its input, ``HTMLParser.close()`` rescans
        the rest of the page once per ``<`` (quadratic: seconds for a few hundred
        kilobytes of ``<a<a<a``, in the Python versions this project supports). Fed in
        pieces, the parser instead keeps unfinished markup in ``rawdata`` until more
        input arrives; each piece is at least as large as what is kept, so the
        rescans add up to linear time, and whatever is still kept at the end is
        refused before ``close()`` can see it.
        """
        try:
            pos = 0
            while pos < len(text):
                size = max(_FEED_CHUNK, len(self.rawdata))
                self.feed(text[pos : pos + size])
                pos += size
            pending = self.rawdata
            if pending.startswith("<"):
                line = self.getpos()[0]
                raise _Reject(
                    f"line {line}: markup left open at the end of the page: {_show(pending)}"
                )
            self.close()
        except AssertionError as exc:
            # html.parser reports some malformed markup (``<![DOCTYPE ...``, an
            # unknown marked section) by raising AssertionError: a bad page, not a bug.
            raise _Reject(f"line {self.getpos()[0]}: malformed markup ({exc})") from None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            line = self.getpos()[0]
            try:
                found = _unique_attrs(tag, attrs)
            except _Reject as exc:
                raise _Reject(f"link on line {line}: {exc}") from None
            # An <a> start tag closes any anchor still open, as in HTML5 parsing.
            self._text = None
            if "href" in found:
                self._text = []
                self.anchors.append((line, found, self._text))
        elif tag == "meta":
            found = _unique_attrs(tag, attrs)
            if found.get("name") == "pypi:repository-version":
                self.versions.append((self.getpos()[0], found.get("content")))
        elif tag == "base" and any(name == "href" for name, _ in attrs):
            # A base URL would make installers resolve links against something other
            # than the page URL, which the client contract (DESIGN.md §6) relies on.
            raise _Reject(f"line {self.getpos()[0]}: <base href> is not supported")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _api_version(versions: list[tuple[int, str | None]]) -> str | None:
    values = {value for _, value in versions}
    if len(values) > 1:
        shown = ", ".join(sorted(_show(value) for value in values))
        raise _Reject(f"conflicting pypi:repository-version meta tags: {shown}")
    if not versions:
        return None
    line, value = versions[0]
    try:
        return _check_api_version(value)
    except _Reject as exc:
        raise _Reject(f"line {line}: {exc}") from None


def _html_link(attrs: _Attrs, text: str) -> FileLink:
    href = attrs["href"]
    if href is None or not href.strip():
        raise _Reject("empty href")
    _check_url(href)
    url, hashes = _split_fragment(href)
    url_name = _url_name(url)
    filename = text.strip()
    if not filename:
        filename = url_name
    elif filename != url_name:
        # PEP 503: the text MUST match the URL's final path component. Installers name
        # the file after the URL, so a mismatch means two names for one file.
        raise _Reject(
            f"anchor text {_show(filename)} does not match the file name "
            f"{_show(url_name)} at the end of its URL"
        )
    _check_filename(filename)

    yanked: bool | str = False
    if "data-yanked" in attrs:
        yanked = attrs["data-yanked"] or True

    # PEP 714 renamed the attribute; clients prefer the new name when both are given.
    core_metadata: bool | dict[str, str] = False
    for attr in ("data-core-metadata", "data-dist-info-metadata"):
        if attr in attrs:
            core_metadata = _html_core_metadata(attr, attrs[attr])
            break

    return FileLink(
        filename=filename,
        url=url,
        hashes=hashes,
        size=None,
        requires_python=attrs.get("data-requires-python") or None,
        yanked=yanked,
        core_metadata=core_metadata,
        upload_time=attrs.get("data-upload-time") or None,
    )


def _url_name(url: str) -> str:
    """The file name at the end of a URL's path (``url`` has no fragment).

    A URL of the usual shapes (``https://host/...``, ``../../...``, ``/...``: no
    scheme tricks, no netloc without a path, no query, no '%', no brackets, ASCII)
    has its path's last segment after its last '/', so ``urlsplit`` and ``unquote``
    would return exactly that; they are only run for everything else.
    """
    if _SIMPLE_URL.fullmatch(url) and "%" not in url:
        return url.rpartition("/")[2]
    try:
        path = urlsplit(url).path
    except ValueError as exc:
        raise _Reject(f"malformed URL {_show(url)}: {exc}") from None
    return unquote(path.rpartition("/")[2])


def _html_core_metadata(attr: str, value: str | None) -> bool | dict[str, str]:
    if value == "true":
        return True
    name, eq, digest = (value or "").partition("=")
    if not eq:
        raise _Reject(f"{attr}={_show(value)} is neither 'true' nor <hashname>=<hexdigest>")
    try:
        alg, digest = _check_hash(name, digest)
    except _Reject as exc:
        raise _Reject(f"{attr}: {exc}") from None
    return {alg: digest}


# --- JSON -----------------------------------------------------------------------------


def _load_json(text: str) -> Any:
    try:
        doc = _strict_decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise _Reject(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise _Reject(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise _Reject(_TOO_DEEP) from None
    _check_depth(doc)
    if _SUSPECT_ESCAPE.search(text):
        _check_strings(doc)
    return doc


# PEP 691 pages nest four deep. Without a limit of its own, the decoder stops at Python's
# recursion limit, less the depth of the caller's stack: a page could then be accepted by
# one caller (the upload queue, say) and refused by another (a publish deep in the CLI,
# a client in a proxy thread), with the same bytes.
_MAX_JSON_DEPTH = 64
_TOO_DEEP = f"not valid JSON: nested too deeply (more than {_MAX_JSON_DEPTH} levels)"


def _check_depth(doc: Any) -> None:
    """Refuse a document nested deeper than ``_MAX_JSON_DEPTH``, one level at a time."""
    level = [doc] if type(doc) in _CONTAINERS else []
    for _ in range(_MAX_JSON_DEPTH):
        below: list[Any] = []
        for container in level:
            values = container.values() if type(container) is dict else container
            below += [value for value in values if type(value) in _CONTAINERS]
        if not below:
            return
        level = below
    raise _Reject(_TOO_DEEP)


_CONTAINERS = (dict, list)


# Escapes of NUL or of a surrogate: the only way a string can hold either (raw NUL is
# refused, raw surrogates are not UTF-8). A match may be an escaped backslash and a
# 'u', which _check_strings then finds harmless.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _check_strings(doc: Any) -> None:
    """Refuse NUL and lone surrogates, which ``\\u`` escapes can put in any string.

    Neither is text: an HTML page cannot hold them (the same file listed in the
    other form could not say the same), and a lone surrogate cannot be written out
    as UTF-8 again, by the proxy or to a file name.
    """
    stack = [doc]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            stack += value
            stack += value.values()
        elif type(value) is list:
            stack += value
        elif type(value) is str and not (value.isascii() and "\0" not in value):
            if "\0" in value:
                raise _Reject(f"not valid JSON text: the string {_show(value)} holds a NUL")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Reject(
                    f"not valid JSON text: the string {_show(value)} holds a lone surrogate"
                ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                # Parsers disagree on which value wins, so the page is ambiguous.
                raise _Reject(f"duplicate key {_show(key)} in a JSON object")
            seen.add(key)
    return result


def _reject_constant(name: str) -> None:
    raise _Reject(f"not valid JSON: {name} is not a JSON value")


def _finite_float(text: str) -> float:
    # Python reads 1e400 as inf, which would be written out again as Infinity: not JSON.
    value = float(text)
    if value in (_INF, -_INF):
        raise _Reject(f"not valid JSON: the number {_show(text)} is too large")
    return value


_INF = float("inf")


def _require(obj: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    value = obj.get(key, _MISSING)
    if type(value) is kind:  # exact: a bool is not a number here
        return value
    label = f"'{where}.{key}'" if where else f"'{key}'"
    if value is _MISSING:
        raise _Reject(f"missing {label}")
    raise _Reject(f"{label} must be {_JSON_TYPES[kind]}, not {_json_type(value)}")


_MISSING = object()


def _json_hashes(value: object, label: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Reject(f"{label} must be an object of hashes, not {_json_type(value)}")
    hashes: dict[str, str] = {}
    for name, digest in value.items():
        if not isinstance(digest, str):
            raise _Reject(f"{label}: {name!r} must be a string, not {_json_type(digest)}")
        try:
            alg, digest = _check_hash(name, digest)
        except _Reject as exc:
            raise _Reject(f"{label}: {exc}") from None
        if alg in hashes:
            raise _Reject(f"{label} gives {alg} twice")
        hashes[alg] = digest
    return hashes


def _json_link(entry: object) -> FileLink:
    if not isinstance(entry, dict):
        raise _Reject(f"must be an object, not {_json_type(entry)}")
    filename = _check_filename(_require(entry, "filename", str))
    url = _require(entry, "url", str)
    _check_url(url)
    url, url_hashes = _split_fragment(url)
    hashes = _json_hashes(_require(entry, "hashes", dict), "'hashes'")
    for alg, digest in url_hashes.items():
        # pip merges a URL fragment hash into the hashes, so both must agree.
        if hashes.setdefault(alg, digest) != digest:
            raise _Reject(f"the URL fragment and 'hashes' give different {alg} digests")

    size = None
    if "size" in entry:
        size = entry["size"]
        if type(size) is not int or size < 0:
            raise _Reject(f"'size' must be a non-negative integer, not {_show(size)}")

    requires_python = None
    if "requires-python" in entry:
        requires_python = entry["requires-python"]
        if requires_python is not None and not isinstance(requires_python, str):
            raise _Reject(
                f"'requires-python' must be a string or null, not {_json_type(requires_python)}"
            )
        requires_python = requires_python or None

    yanked: bool | str = False
    if "yanked" in entry:
        yanked = entry["yanked"]
        if not isinstance(yanked, (bool, str)):
            raise _Reject(f"'yanked' must be a boolean or a string, not {_json_type(yanked)}")
        # PEP 691 wants a reason to be non-empty; an empty one still says "yanked".
        yanked = yanked if yanked != "" else True

    core_metadata: bool | dict[str, str] = False
    for key in ("core-metadata", "dist-info-metadata"):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool):
                core_metadata = value
            elif isinstance(value, dict):
                core_metadata = _json_hashes(value, f"'{key}'") or True
            else:
                raise _Reject(
                    f"'{key}' must be a boolean or an object of hashes, not {_json_type(value)}"
                )
            break

    upload_time = None
    if "upload-time" in entry:
        upload_time = entry["upload-time"]
        if not isinstance(upload_time, str):
            raise _Reject(f"'upload-time' must be a string, not {_json_type(upload_time)}")

    return FileLink(
        filename=filename,
        url=url,
        hashes=hashes,
        size=size,
        requires_python=requires_python,
        yanked=yanked,
        core_metadata=core_metadata,
        upload_time=upload_time,
    )
