"""The strict PEP 503 HTML parser (with the PEP 592, 658, 714 and 700 attributes).

Pages in the narrow grammar of :mod:`.grammar` are collected by it; every other page
by ``html.parser``. Both hand the same collected anchors to the same validation, so
the grammar decides nothing on its own.
"""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

from .fields import _SIMPLE_URL, _check_filename, _check_hash, _check_url, _split_fragment
from .grammar import HtmlAnchors, collect_html
from .model import (
    FileLink,
    PageError,
    ProjectPage,
    _check_api_version,
    _decode,
    _first_char,
    _page,
    _Reject,
    _show,
)

# How much of an HTML page is given to the parser at a time (see _LinkCollector.run).
_FEED_CHUNK = 1024 * 1024


def parse_html(data: bytes, source: str) -> ProjectPage:
    """Parse a PEP 503 HTML detail page.

    ``source`` (a path or URL) only serves to name the page in errors. Beyond the
    rules the PEPs state, some readings that installers could disagree on are
    refused: anchor text that differs from the file name at the end of the URL (pip
    names the file after the URL), ``<base href>`` (links would no longer resolve
    against the page URL), attributes given twice, control characters in URLs,
    markup left open at the end, and one file listed twice with different hashes.
    """
    return _parse_html(data, source, grammar=True)[1]


def _parse_html(data: bytes, source: str, grammar: bool) -> tuple[str, ProjectPage]:
    """:func:`parse_html`, and which tier decided: ``"grammar"`` or ``"parser"``.

    With ``grammar`` False only the full parser runs (for the differential tests).
    """
    try:
        text = _decode(data)
        if _first_char(text) in ("{", "["):
            raise _Reject("wrong content for the form: this is JSON, not an HTML page")
        collected = collect_html(text) if grammar else None
        if collected is not None:
            try:
                return "grammar", _html_page(*collected)
            except _Reject:
                pass  # the full parser below gives the error, exactly as always
        return "parser", _html_page(*_collect(text))
    except _Reject as exc:
        raise PageError(source, str(exc)) from None


def _collect(text: str) -> HtmlAnchors:
    """The anchors and version tags ``html.parser`` collects from ``text``."""
    collector = _LinkCollector()
    collector.run(text)
    return collector.anchors, collector.versions


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
