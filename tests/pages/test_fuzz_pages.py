"""Permanent fuzzing of the page parsers (issue 18): they agree, or all refuse, and never crash.

A page verified through TUF vouches for every file it lists (DESIGN.md §3), and three
readers decide what a page says:

* the publisher's strict parser, :func:`tuf_pypi.pages.parse_page`, which the upload
  queue also runs;
* the publish-time fast checks, :func:`tuf_pypi.pages.check_page` (link lines and JSON
  file entries checked in runs) and the narrow HTML grammar of
  :mod:`tuf_pypi.pages.grammar` that ``parse_page`` tries first;
* the client's parser: ``tuf_pypi.client`` (``Client.page``, mirror sync, and so the
  proxy) parses each verified page with that same ``parse_page`` (checked below), and
  the proxy renders what it parsed as new pages that installers read.

Hypothesis mutates realistic pages in both forms (PEP 503 ``index.html`` and PEP 691
``index.v1_json``: real pypi.org pages from ``tests/fixtures/pypi-pages``, the
sample index, and hand-written pages with every attribute and member) with byte flips,
invalid UTF-8, insertions and deletions in link lines and JSON entries, odd attributes,
duplicate keys, huge numbers, deep nesting, character references, control characters
and truncation; it also rewrites JSON pages as valid JSON with members changed, removed
or added. For each result it checks that:

* ``check_page`` gives the unverifiable-link count of ``parse_page``'s page, or the very
  same :class:`~tuf_pypi.pages.PageError`;
* ``parse_page`` reads an HTML page the same way with and without the fast grammar (an
  inert ``<p></p>`` in front of the page takes the full ``html.parser`` path), and
  accepts or refuses a page whatever the depth of the caller's stack;
* an accepted page only names files that are safe to use as path components, with
  well-formed lowercase digests;
* what the proxy renders from an accepted page, in either form, parses back to the same
  files, hashes, requires-python and yanked;
* nothing raises anything but ``PageError``.

A second kind of property builds pages from generated links and checks that the HTML
and JSON forms of one list of links read as the same files.

Budgets: by default (CI) each property runs 200 examples, derandomized (the seed is
derived from the test's name, so every run is the same; a failure prints the minimal
input and a ``@reproduce_failure`` line to replay it). For a long run, with fresh
random examples each time::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest -q tests/pages/test_fuzz_pages.py

(``long``: 20 000 examples per property, about two minutes each; a failure prints the
minimal input and a ``@reproduce_failure`` line, and ``--hypothesis-seed=N`` makes a
run repeatable.) For coverage-guided runs,
``scripts/fuzz_pages.py`` drives the same checks with atheris. Minimal inputs of every
bug found are regression tests in ``tests/pages/test_pages.py``.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuf_pypi import pages
from tuf_pypi.client import client as client_index
from tuf_pypi.mirror import sync as client_mirror
from tuf_pypi.pages import PageError, ProjectPage, check_page, parse_page
from tuf_pypi.proxy.pages import is_offered, render_html, render_json
from tuf_pypi.sample import build_index

settings.register_profile(
    "fuzz-pages",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=20_000,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Applied to each property (not loaded globally, so other tests keep their settings).
PROFILE = settings.get_profile(
    "long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "fuzz-pages"
)

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pypi-pages"  # shipped with the tests
SOURCE = "https://mirror.example/simple/p/index"
# Put in front of an HTML page, this changes nothing the page says but keeps the page
# out of the fast grammar, so the full parser reads it (see check_readers_agree).
INERT = b"<p></p>"
LINKS_PER_SEED = 4

SHA = "0123456789abcdef" * 4
META = f"sha256={'c' * 64}"
_HAND_ATTRS = (
    ' data-requires-python="&gt;=3.8,&lt;4" data-yanked="bad &amp; &quot;broken&quot;"'
    f' data-dist-info-metadata="{META}" data-core-metadata="{META}"'
    ' data-provenance="https://p.example/x" data-upload-time="2024-01-01T00:00:00Z"'
    ' data-gpg-sig="false"'
)
HAND_HTML = f"""<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.1">
    <title>Links for hand</title>
  </head>
  <body>
    <h1>Links for hand</h1>
    <a href="https://files.example/p/hand-1.0.tar.gz#sha256={SHA}"{_HAND_ATTRS}>hand-1.0.tar.gz</a>
    <a href="../../packages/ab/hand-1.0-py3-none-any.whl#md5={"d" * 32}" data-yanked=""
       data-core-metadata="true">hand-1.0-py3-none-any.whl</a><br />
    <a href="/packages/hand%2B1.zip#sha512={"e" * 128}">hand+1.zip</a>
    <a href="hand-2.0.tar.gz">hand-2.0.tar.gz</a>
  </body>
</html>
"""
HAND_JSON = {
    "meta": {"api-version": "1.1", "_last-serial": 7},
    "name": "hand",
    "files": [
        {
            "filename": "hand-1.0.tar.gz",
            "url": "https://files.example/p/hand-1.0.tar.gz",
            "hashes": {"sha256": SHA, "md5": "d" * 32},
            "requires-python": ">=3.8,<4",
            "size": 1234,
            "upload-time": "2024-01-01T00:00:00.000000Z",
            "yanked": 'bad & "broken"',
            "core-metadata": {"sha256": "c" * 64},
            "dist-info-metadata": {"sha256": "c" * 64},
            "provenance": None,
        },
        {
            "filename": "hand-1.0-py3-none-any.whl",
            "url": f"../../packages/ab/hand-1.0-py3-none-any.whl#sha256={SHA}",
            "hashes": {},
            "yanked": True,
            "core-metadata": True,
        },
        {
            "filename": "hand+1.zip",
            "url": "/packages/hand%2B1.zip",
            "hashes": {"sha512": "e" * 128},
        },
    ],
    "versions": ["1.0"],
}


def _trim_html(text: str) -> str:
    """The page with only its first few link lines, so that examples stay quick."""
    lines = text.splitlines(keepends=True)
    links = [i for i, line in enumerate(lines) if "<a " in line]
    drop = set(links[LINKS_PER_SEED:])
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def _seeds() -> tuple[list[bytes], list[bytes]]:
    """Realistic pages of both forms to start mutating from."""
    html_pages = [HAND_HTML.encode()]
    json_pages = [
        json.dumps(HAND_JSON, separators=(",", ":")).encode(),
        json.dumps(HAND_JSON, sort_keys=True).encode(),
    ]
    for project in ("click", "pynacl", "securesystemslib", "tuf"):
        page = FIXTURES / project / "index.html"
        html_pages.append(_trim_html(page.read_text("utf-8")).encode())
        page = FIXTURES / project / "index.v1_json"  # pypi.org's own style: sorted keys
        doc = json.loads(page.read_bytes())
        doc["files"] = doc["files"][:LINKS_PER_SEED]
        json_pages.append(json.dumps(doc, sort_keys=True).encode())
    with tempfile.TemporaryDirectory() as tmp:
        build_index(Path(tmp))
        simple = Path(tmp) / "simple"
        html_pages += [p.read_bytes() for p in sorted(simple.glob("*/index.html"))]
        json_pages += [p.read_bytes() for p in sorted(simple.glob("*/index.v1_json"))]
    return html_pages, json_pages


HTML_SEEDS, JSON_SEEDS = _seeds()

# Bytes that are not UTF-8: a lone continuation byte, a truncated sequence, an encoded
# surrogate, an overlong '/', a code point above U+10FFFF, a byte never used.
BAD_UTF8 = [
    b"\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"\xff",
]
CONTROL = [
    "\x00",
    "\x01",
    "\t",
    "\n",
    "\x0b",
    "\x0c",
    "\r",
    "\x1f",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "\u00a0",
]
ENTITIES = [
    "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&#47;", "&#x2F;", "&#0;", "&#x0;",
    "&#128;", "&#x85;", "&#xD800;", "&#1114112;", "&#9999999999;", "&amp", "&lt", "&notin;",
    "&notit;", "&NotAnEntity;", "&#", "&#x;", "&", "&amp;amp;", "&#65;", "&#X41;", "&Tab;",
    "&NewLine;", "&nbsp;", "&sol;",
]  # fmt: skip
HTML_SNIPPETS = [
    # attributes, odd and duplicated
    " data-yanked", ' data-yanked=""', " data-yanked=x", " data-yanked='r'", ' data-yanked="r"',
    ' HREF="/b"', ' href="/b"', " href", ' href=""', " href=/c", ' data-core-metadata',
    f' data-core-metadata="{META}"', f' data-dist-info-metadata="{META}"',
    ' data-core-metadata="true"', ' data-core-metadata="false"', ' data-core-metadata="md5="',
    f' data-core-metadata="SHA256={"C" * 64}"', ' data-requires-python="&gt;=3"',
    ' data-upload-time=""', ' data-x="1"', ' DATA-YANKED="r"', "/", " / ", " =x", " a=b=c",
    " data-yanked=\"r\"data-x", '"', "'", "=",
    # markup
    "<a>", "</a>", "</A>", '<a href="x">', '<a href="x"/>', "<A HREF=y>", '<base href="/">',
    '<base target="x">', '<meta name="pypi:repository-version" content="1.0">',
    '<meta name="pypi:repository-version" content="2.0">',
    '<meta name="pypi:repository-version" content="1.0" name="x">', "<!--", "-->", "--!>",
    "<!-- x -->", "<!---->", "<![CDATA[", "]]>", "<script>", "</script>", "<style>",
    "<textarea>", "<title>", "</title>", "<?x?>", "<!DOCTYPE html>", "<![if x]>",
    "<![DOCTYPE html>", "<!x>", "<br>", "<br/>", "</br>", "<p>", "</p>", "<", ">", "</", "<a",
    "<a ", "<svg>", "<math>", "</body>", "</html>",
    # URL pieces
    f"#sha256={SHA}", f"#sha256={SHA.upper()}", f"#md5={'d' * 32}", "#sha256=", "#", "##",
    "#sha256=x", "%2F", "%2f", "%00", "%41", "%", "%zz", "?q=1", "//", "https://h", "HTTP://h",
    "javascript:", "JaVaScRiPt:", " javascript:", "java\tscript:", "data:", "\\", "..", "/.",
    "[", "]", "@", ":", "https://[::1]", "http://h:99999", "é", "\u212a", "\u0130",
    " ", "  ",
]  # fmt: skip
JSON_SNIPPETS = [
    # duplicate keys and odd members
    '"filename":"x",', '"filename":"..",', '"filename":"a/b",', '"filename":"",',
    '"url":"/y",', '"url":"javascript:x",', '"url":"",', '"hashes":{},',
    f'"hashes":{{"sha256":"{SHA}"}},', f'"hashes":{{"sha256":"{SHA.upper()}"}},',
    f'"hashes":{{"SHA256":"{SHA}"}},', '"hashes":{"md5":"' + "d" * 32 + '"},',
    '"hashes":[],', '"hashes":null,', '"name":"n",', '"name":"",', '"name":1,',
    '"meta":{"api-version":"1.0"},', '"meta":{"api-version":"2.0"},', '"files":[],',
    '"files":{},', '"yanked":"",', '"yanked":1,', '"yanked":null,', '"requires-python":3,',
    '"core-metadata":true,', '"core-metadata":{},', '"core-metadata":"x",',
    f'"dist-info-metadata":{{"sha256":"{SHA}"}},', '"upload-time":1,', '"x":1,',
    # numbers: huge, negative, not integers
    '"size":-1,', '"size":-0,', '"size":1.0,', '"size":1e2,', '"size":1e400,',
    '"size":' + "9" * 5000 + ",", '"size":18446744073709551616,', '"size":true,',
    "9" * 5000, "1e999", "-1e999", "-0", "0.0", "1E1", "01",
    # constants and nesting
    "NaN", "Infinity", "-Infinity", "null", "true", "false", "{}", "[]", '""', "0",
    "[" * 63 + "]" * 63, "[" * 400 + "]" * 400, "[" * 3000, '{"a":' * 400 + "1" + "}" * 400,
    '{"a":' * 3000,
    # escapes in strings
    "\\u0000", "\\ud800", "\\udc00", "\\ud800\\udc00", "\\u002f", "\\u002e\\u002e", "\\/",
    '\\"', "\\\\", "\\x41", "\\", "\\u", "\\n", "\\t", "\\u0085",
    # structure
    '"', ",", ":", "{", "}", "[", "]", ",,", ", ", ": ", "<", "\ufeff",
    f"#sha256={SHA}", f"#sha256={'f' * 64}", "#md5=" + "d" * 32, "%2F", "é",
]  # fmt: skip


@st.composite
def snippet(draw: st.DrawFn, snippets: list[str]) -> bytes:
    """A piece to insert: one of the hand-picked ones, bytes that are not UTF-8, or any."""
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return draw(st.sampled_from(snippets)).encode("utf-8", "surrogatepass")
    if kind == 6:
        return draw(st.sampled_from(ENTITIES + CONTROL)).encode()
    if kind == 7:
        return draw(st.sampled_from(BAD_UTF8))
    if kind == 8:
        return draw(st.text(max_size=4)).encode("utf-8", "surrogatepass")
    return draw(st.binary(min_size=1, max_size=4))


def _units(data: bytes, form: str) -> list[tuple[int, int]]:
    """Where the link lines (HTML) or the file entries (JSON) of a page are."""
    pattern = (
        rb"[^\n]*<a [^\n]*\n?" if form == "html" else rb'\{"filename"[^{}]*(?:\{[^{}]*\}[^{}]*)*\}'
    )
    return [m.span() for m in re.finditer(pattern, data)]


OPS = [
    "insert",
    "insert",
    "repeat",
    "replace",
    "delete",
    "flip",
    "copy",
    "truncate",
    "unit",
    "unit",
]


@st.composite
def mutated(draw: st.DrawFn, form: str) -> bytes:
    """A seed page of ``form`` after one to four random changes."""
    seeds, snippets = (HTML_SEEDS, HTML_SNIPPETS) if form == "html" else (JSON_SEEDS, JSON_SNIPPETS)
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPS))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(snippet(snippets))
        elif op == "repeat":  # nesting, runs of open markup
            data[at:at] = draw(snippet(snippets)) * draw(st.integers(2, 500))
        elif op == "replace":
            data[at : at + draw(st.integers(1, 8))] = draw(snippet(snippets))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "copy":
            start = draw(st.integers(0, len(data)))
            data[at:at] = data[start : start + draw(st.integers(1, 200))]
        elif op == "truncate":
            del data[at:]
        elif op == "unit":
            _mutate_unit(draw, data, form, snippets)
    return bytes(data)


def _mutate_unit(draw: st.DrawFn, data: bytearray, form: str, snippets: list[str]) -> None:
    """Change one link line or file entry: copy, drop or move it, or change it inside."""
    units = _units(bytes(data), form)
    if not units:
        return
    start, end = draw(st.sampled_from(units))
    unit = bytes(data[start:end])
    op = draw(st.sampled_from(["copy", "copy", "drop", "inside", "inside", "digest"]))
    sep = b"" if form == "html" else b","
    if op == "copy":  # the same file again, after it or before another one
        at = draw(st.sampled_from([end] + [s for s, _ in units]))
        data[at:at] = sep + unit if at == end else unit + sep
    elif op == "drop":
        del data[start:end]
    elif op == "digest":  # the same file with another digest, or none
        other = draw(st.sampled_from([b"", ("f" * 64).encode(), SHA.upper().encode()]))
        changed = re.sub(rb"[0-9a-f]{64}", lambda _: other, unit, count=1)
        data[end:end] = sep + changed
    else:
        at = start + draw(st.integers(0, end - start))
        data[at : at + draw(st.integers(0, 4))] = draw(snippet(snippets))


def _outcome(call: object) -> tuple[str, object]:
    """``("ok", value)`` or ``("refused", message)``; any other exception propagates."""
    try:
        return "ok", call()  # type: ignore[operator]
    except PageError as exc:
        return "refused", str(exc)


def _inert_prefix_applies(data: bytes) -> bool:
    """Whether ``INERT`` in front of ``data`` changes nothing but the parsing path.

    Rules that look at the bytes (UTF-8, NUL, empty, JSON content) give offsets or
    depend on the first character, so they only apply where those rules pass.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    first = re.match(r"\s*(\S)", text)
    return "\0" not in text and first is not None and first.group(1) not in "{["


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGEST = re.compile(r"[0-9a-f]+")


def _check_safe(page: ProjectPage) -> None:
    """What every accepted page guarantees its readers (file names become paths)."""
    for link in page.files:
        name = link.filename
        assert name not in ("", ".", "..") and "/" not in name and "\\" not in name, name
        assert not _CONTROL.search(name), name
        assert not _CONTROL.search(link.url), link.url
        assert "#" not in link.url, link.url
        hashes = [link.hashes]
        if not isinstance(link.core_metadata, bool):
            hashes.append(link.core_metadata)
        for mapping in hashes:
            for alg, digest in mapping.items():
                assert alg == alg.lower() and _DIGEST.fullmatch(digest), (alg, digest)
        assert link.sha256 is None or len(link.sha256) == 64


def _offered(page: ProjectPage, all_hashes: bool) -> list[tuple[object, ...]]:
    """What the proxy serves of ``page``'s files: HTML pages carry the sha256 only."""
    return [
        (
            link.filename,
            dict(link.hashes) if all_hashes else link.sha256,
            link.metadata_sha256,
            link.requires_python,
            link.yanked,
        )
        for link in page.files
        if is_offered(link)
    ]


def check_readers_agree(data: bytes, form: str) -> None:
    """Every reader of ``data`` says the same, or all refuse it with the same error."""
    filename = "index.html" if form == "html" else "index.v1_json"
    parsed = _outcome(lambda: parse_page(data, filename, SOURCE))
    counted = _outcome(lambda: check_page(data, filename, SOURCE))
    if parsed[0] == "ok":
        page = parsed[1]
        assert isinstance(page, ProjectPage)
        assert counted == ("ok", len(page.unverifiable())), data
        _check_safe(page)
        # What the proxy serves from the page reads back as the same files.
        for rendered, as_form in (
            (render_html("p", page), "index.html"),
            (render_json("p", page, data), "index.v1_json"),
        ):
            again = parse_page(rendered, as_form, "proxy")
            json_form = as_form == "index.v1_json"
            assert _offered(again, json_form) == _offered(page, json_form), (data, rendered)
    else:
        assert counted == parsed, data
    if form == "html" and _inert_prefix_applies(data):
        assert pages.collect_anchors((INERT + data).decode(), fast=True) is None
        assert _outcome(lambda: parse_page(INERT + data, filename, SOURCE)) == parsed, data
    # Callers sit at different depths of the stack (the queue, a publish, a proxy thread):
    # the verdict must not depend on it. (Only how JSON that is invalid anyway is refused
    # may: past Python's recursion limit the decoder stops before the syntax error.)
    frames = _frames_left() - STACK_LEFT
    deeper = _at_stack_depth(frames, lambda: _outcome(lambda: parse_page(data, filename, SOURCE)))
    assert deeper[0] == parsed[0] and (parsed[0] == "refused" or deeper == parsed), data


#: Frames left to parse_page in the deeper call: what a caller deep in its stack has.
STACK_LEFT = 250


def _frames_left() -> int:
    """How many frames deeper Python's recursion limit is (Hypothesis raises it)."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return sys.getrecursionlimit() - depth


def _at_stack_depth(frames: int, call: Callable[[], T]) -> T:
    return _at_stack_depth(frames - 1, call) if frames > 0 else call()


def test_the_client_parses_with_the_publishers_parser() -> None:
    """So the publisher/client differential is the one below; a new client parser needs one."""
    assert client_index.parse_page is pages.parse_page
    assert client_mirror.parse_page is pages.parse_page


def test_seeds_are_valid_and_take_the_fast_paths() -> None:
    """Mutations start from valid pages that the fast paths decide (so both sides are tried)."""
    assert len(HTML_SEEDS) >= 6
    for data in HTML_SEEDS:
        check_readers_agree(data, "html")
        assert parse_page(data, "html", SOURCE).files
        if data != HAND_HTML.encode():
            assert pages.collect_anchors(data.decode(), fast=True) is not None
    for data in JSON_SEEDS:
        check_readers_agree(data, "json")
        assert parse_page(data, "json", SOURCE).files


@PROFILE
@given(mutated("html"))
def test_html_mutations_agree(data: bytes) -> None:
    check_readers_agree(data, "html")


@PROFILE
@given(mutated("json"))
def test_json_mutations_agree(data: bytes) -> None:
    check_readers_agree(data, "json")


_ALGS = ["sha256", "SHA256", "Sha256", "md5", "sha512", "blake2b", "sha3_256", "sha 256", "x" * 33]
_HEX_OF_ANY_LENGTH = st.sampled_from([32, 40, 63, 64, 65, 128, 0]).flatmap(
    lambda n: st.sampled_from(["0123456789abcdef", "ABCDEF", "g"]).map(lambda a: (a * 130)[:n])
)
_HASHES = st.dictionaries(st.sampled_from(_ALGS), _HEX_OF_ANY_LENGTH, max_size=3)
_ODD_STRINGS = st.sampled_from(
    ["", " ", "..", ".", "a/b", "a\\b", "\0", "\ud800", "\udc00x", "\x7f", "\r", "é", "a b",
     "../../p/a.whl", "/p/a.whl#sha256=" + SHA, "/p/a.whl#md5=" + "d" * 32, "javascript:x",
     "https://h/p/a%2Fb.whl", "https://h/p/", "true", "1.0", "2.0", "1", ">=3.8"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**4000, -1, 0, 2**63])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | _ODD_STRINGS
)


def _nested(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


# Under the nesting limit, over it, and past where the decoder's recursion could stop.
_DEEP = st.sampled_from([_nested(60), _nested(65), _nested(400)])
_VALUES = st.recursive(
    _SCALARS | _HASHES | _DEEP,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_ENTRY_KEYS = [
    *("filename", "url", "hashes", "requires-python", "size", "upload-time", "yanked"),
    *("core-metadata", "dist-info-metadata", "data-dist-info-metadata", "provenance", "x"),
]
_DOC_KEYS = ["meta", "name", "files", "versions", "x"]


@st.composite
def json_documents(draw: st.DrawFn) -> bytes:
    """A seed JSON page with members changed, removed or added, written in some style."""
    doc = json.loads(draw(st.sampled_from(JSON_SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        files = doc.get("files") if isinstance(doc, dict) else None
        where = draw(st.sampled_from(["entry", "entry", "entry", "doc", "meta", "files"]))
        if where == "files" and isinstance(files, list) and files:
            i = draw(st.integers(0, len(files) - 1))
            op = draw(st.sampled_from(["copy", "drop", "replace"]))
            if op == "copy":
                files.insert(draw(st.integers(0, len(files))), json.loads(json.dumps(files[i])))
            elif op == "drop":
                del files[i]
            else:
                files[i] = draw(_VALUES)
            continue
        if where == "entry" and isinstance(files, list) and files:
            target, keys = draw(st.sampled_from(files)), _ENTRY_KEYS
        elif where == "meta" and isinstance(doc, dict):
            target, keys = doc.get("meta"), ["api-version", "_last-serial", "x"]
        else:
            target, keys = doc, _DOC_KEYS
        if not isinstance(target, dict):
            continue
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(_VALUES)
    ensure_ascii = draw(st.booleans())
    style = draw(st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 1}]))
    text = json.dumps(doc, ensure_ascii=ensure_ascii, sort_keys=draw(st.booleans()), **style)
    return text.encode("utf-8", "surrogatepass")


@PROFILE
@given(json_documents())
def test_json_documents_agree(data: bytes) -> None:
    """Valid JSON with odd members and values: more pages accepted than text mutations give."""
    check_readers_agree(data, "json")


@PROFILE
@given(st.sampled_from(HTML_SEEDS + JSON_SEEDS), st.data())
def test_wrong_form_truncated_and_spliced_pages_agree(seed: bytes, data: st.DataObject) -> None:
    """Either form read as the other, cut anywhere, or two pages spliced together."""
    cut = data.draw(st.integers(0, len(seed)))
    other = data.draw(st.sampled_from(HTML_SEEDS + JSON_SEEDS))
    page = data.draw(st.sampled_from([seed[:cut], seed[cut:], seed[:cut] + other[cut:], seed]))
    for form in ("html", "json"):
        check_readers_agree(page, form)


# --- both forms of one list of links --------------------------------------------------

_NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
_TEXT = st.text(_NAME_CHARS, max_size=12)
_HEX64 = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def link_specs(draw: st.DrawFn) -> dict[str, object]:
    filename = draw(st.text(_NAME_CHARS, min_size=1, max_size=12))
    safe = draw(st.sampled_from(["", "-._~", "!$'()*+,;=:@&-._~"]))
    base = draw(st.sampled_from(["https://files.example/p/ab/", "../../packages/", "/p/", "./"]))
    return {
        "filename": filename,
        "url": base + quote(filename, safe=safe),
        "sha256": draw(st.none() | _HEX64),
        "requires_python": draw(st.none() | _TEXT),
        "yanked": draw(st.booleans() | _TEXT),
        "metadata": draw(st.booleans() | _HEX64),
    }


def _html_of(specs: list[dict[str, object]]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html><head>",
        '<meta name="pypi:repository-version" content="1.0">',
        "<title>Links for p</title></head><body>",
    ]
    for spec in specs:
        href = str(spec["url"]) + (f"#sha256={spec['sha256']}" if spec["sha256"] else "")
        attrs = [f'href="{html.escape(href)}"']
        if spec["requires_python"] is not None:
            attrs.append(f'data-requires-python="{html.escape(str(spec["requires_python"]))}"')
        if spec["yanked"] is not False:
            reason = "" if spec["yanked"] is True else str(spec["yanked"])
            attrs.append(f'data-yanked="{html.escape(reason)}"')
        if spec["metadata"] is not False:
            value = "true" if spec["metadata"] is True else f"sha256={spec['metadata']}"
            attrs.append(f'data-core-metadata="{value}"')
        lines.append(f"<a {' '.join(attrs)}>{html.escape(str(spec['filename']))}</a><br/>")
    lines.append("</body></html>")
    return "\n".join(lines).encode()


def _json_of(specs: list[dict[str, object]], ensure_ascii: bool) -> bytes:
    files = []
    for spec in specs:
        entry: dict[str, object] = {
            "filename": spec["filename"],
            "url": spec["url"],
            "hashes": {"sha256": spec["sha256"]} if spec["sha256"] else {},
            "requires-python": spec["requires_python"],
            "yanked": spec["yanked"],
        }
        if spec["metadata"] is not False:
            metadata = spec["metadata"]
            entry["core-metadata"] = True if metadata is True else {"sha256": metadata}
        files.append(entry)
    doc = {"meta": {"api-version": "1.0"}, "name": "p", "files": files}
    return json.dumps(doc, ensure_ascii=ensure_ascii).encode()


def _model(page: ProjectPage) -> list[tuple[object, ...]]:
    return [
        (
            link.filename,
            link.url,
            dict(link.hashes),
            link.requires_python,
            link.yanked,
            link.core_metadata,
        )
        for link in page.files
    ]


@PROFILE
@given(st.lists(link_specs(), max_size=4, unique_by=lambda s: s["filename"]), st.booleans())
def test_both_forms_of_the_same_links_agree(
    specs: list[dict[str, object]], ascii_only: bool
) -> None:
    """One list of links written as HTML and as JSON: the same files, or both refused.

    Some names are refused in HTML only (PEP 503 compares the link text, stripped of
    white space, with the URL's file name); pages of plain names must be read by both.
    """
    html_page, json_page = _html_of(specs), _json_of(specs, ascii_only)
    check_readers_agree(html_page, "html")
    check_readers_agree(json_page, "json")
    from_html = _outcome(lambda: parse_page(html_page, "html", SOURCE))
    from_json = _outcome(lambda: parse_page(json_page, "json", SOURCE))
    if from_html[0] == from_json[0] == "ok":
        assert _model(from_html[1]) == _model(from_json[1])  # type: ignore[arg-type]
    plain = all(
        str(s["filename"]) == str(s["filename"]).strip()
        and not _CONTROL.search(str(s["filename"]) + str(s["requires_python"]) + str(s["yanked"]))
        and str(s["filename"]) not in (".", "..")
        and "/" not in str(s["filename"])
        and "\\" not in str(s["filename"])
        for s in specs
    )
    if plain:
        assert from_html[0] == from_json[0] == "ok", (from_html, from_json)
