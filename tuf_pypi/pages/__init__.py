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

The package, a module per concern:

* :mod:`.model`: :class:`ProjectPage`, :class:`FileLink`, :class:`PageError`, the size
  limit and the rules every form shares (decoding, repository version);
* :mod:`.fields`: the rules for each field of a link (hashes, file names, URLs) and
  the one table of PEP 691 file entry members that every JSON path reads by;
* :mod:`.html` and :mod:`.grammar`: the strict HTML parser, and the narrow exact
  grammar it tries first;
* :mod:`.json`: the strict JSON parser;
* :mod:`.checks`: the publish-time fast checks behind :func:`check_page`.

:func:`decide` tells which tier decided a page; the differential tests use it to
hold every fast tier to the full parser's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import _count_html, _count_json
from .grammar import collect_html
from .html import _collect, _parse_html, parse_html
from .json import parse_json
from .model import FORMS, MAX_PAGE_BYTES, FileLink, PageError, ProjectPage, _Reject

__all__ = [
    "FORMS",
    "MAX_PAGE_BYTES",
    "TIERS",
    "Decision",
    "FileLink",
    "PageError",
    "ProjectPage",
    "check_page",
    "collect_anchors",
    "decide",
    "parse_html",
    "parse_json",
    "parse_page",
]


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
    (HTML in the fast grammar of :mod:`.grammar`, or JSON; plain URLs and file
    names, sha256 digests or none) is checked without building the page model, its
    run of link lines or file entries by one regular expression (:mod:`.checks`);
    anything else, and every page that breaks a rule, goes through
    :func:`parse_page`, so what is accepted and every error message are exactly
    its. ``tests/performance/test_pages_fast.py`` checks that differentially.
    """
    counted = _fast_count(data, form)
    if counted is not None:
        return counted[1]
    return len(parse_page(data, form, source).unverifiable())


def _fast_count(data: bytes, form: str) -> tuple[str, int] | None:
    """The fast checks' tier and count for a page of ``form``, or None: not decided."""
    kind = FORMS.get(form, form)
    if kind == "html":
        return _count_html(data)
    if kind == "json":
        return _count_json(data)
    return None


#: The tiers that can decide a page, fastest first: ``"runs"`` and ``"checks"``
#: (:func:`check_page` only: every link in a run matched by one regular expression,
#: or some links checked one by one), ``"grammar"`` (HTML only: the fast grammar
#: collected the links) and ``"parser"`` (the full parser).
TIERS = ("runs", "checks", "grammar", "parser")


@dataclass(frozen=True)
class Decision:
    """Which tier decided a page, and what it gave.

    ``result`` is the :class:`ProjectPage` (for a parse), the unverifiable-link
    count (for a check), or the :class:`PageError` that refused the page. Both are
    None if no tier that was allowed to run decided.
    """

    tier: str | None
    result: ProjectPage | int | PageError | None


def decide(
    data: bytes,
    form: str,
    source: str,
    *,
    check: bool = False,
    fast: bool = True,
    full: bool = True,
) -> Decision:
    """Run :func:`parse_page` (or :func:`check_page`, if ``check``) and say which tier decided.

    The result is what the public function returns or raises, so a test or a
    benchmark can hold each tier to the full parser's verdict without reaching into
    the modules. ``fast`` False: only the full parser runs (what every fast tier
    must agree with). ``full`` False: only the fast checks of :func:`check_page`
    run (fast enough to time on their own), and a page they do not decide gives
    ``Decision(None, None)``. A refused page is always the full
    parser's decision: only it names the rule broken. A form other than those of
    :func:`parse_page` raises ValueError.
    """
    kind = FORMS.get(form, form)
    if kind not in ("html", "json"):
        parse_page(data, form, source)  # raises the ValueError that names the form
    if check and fast:
        counted = _fast_count(data, form)
        if counted is not None:
            return Decision(*counted)
    if not full:
        return Decision(None, None)
    try:
        if kind == "html":
            tier, page = _parse_html(data, source, grammar=fast)
        else:
            tier, page = "parser", parse_json(data, source)
    except PageError as exc:
        return Decision("parser", exc)
    return Decision(tier, len(page.unverifiable()) if check else page)


def collect_anchors(
    text: str, *, fast: bool
) -> tuple[list[tuple[int, dict[str, str | None], str]], list[tuple[int, str | None]]] | None:
    """What a tier collects from HTML markup, before any link is validated.

    ``(line, attributes, text)`` per anchor and ``(line, content)`` per
    repository-version meta tag. ``fast``: the fast grammar's, or None if the text
    is not in it; else ``html.parser``'s, or :class:`PageError` (source
    ``"<markup>"``) for markup it refuses. The grammar must collect exactly what
    ``html.parser`` does whenever it collects anything.
    """
    if fast:
        collected = collect_html(text)
        if collected is None:
            return None
    else:
        try:
            collected = _collect(text)
        except _Reject as exc:
            raise PageError("<markup>", str(exc)) from None
    anchors, versions = collected
    return [(line, attrs, "".join(parts)) for line, attrs, parts in anchors], versions
