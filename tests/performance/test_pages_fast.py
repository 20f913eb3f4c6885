"""The fast paths accept only what the full parser accepts, with identical results.

Differential: for real PyPI pages, the sample index, the benchmark generator's pages
and many random mutations of all of them, the fast grammar either declines (None) or
collects exactly the anchors and version tags ``html.parser`` collects;
``parse_html`` (which tries the fast path first) gives the same page or the same
error as the full parser alone; and ``check_page`` (link lines and JSON file
entries checked in runs by one regular expression) gives the full parser's count
or error. Every tier is reached through one seam, ``pages.decide`` (which tier
decided a page, and what it gave) and ``pages.collect_anchors``.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tuf_pypi import pages
from tuf_pypi.pages import checks, fields, html
from tuf_pypi.sample import build_index

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pypi-pages"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))
import make_index  # noqa: E402

SNIPPETS = [
    "&amp;", "&gt;", "&lt;", "&quot;", "&#39;", "&#x27;", "&gt", "&", "&amp;gt;", "<!--",
    "-->", "--!>", "<!-- x -->", "<!---->", "<title>", "</title>", "<a>", "</a>", "</A>",
    '<a href="x">', '<a href="x"/>', ' data-yanked=""', ' data-yanked', ' href="y"',
    ' data-core-metadata="sha256=' + "a" * 64 + '"', ' DATA-YANKED="r"', ' data-x="1"',
    '<base href="/">', "<br>", "<br/>", "<br />", "\r\n", "\r", "\t", "\x00", "\x7f", "é",
    "#sha256=", "#md5=", "%2F", "%41", "?q=1", "//", "https://h", "HTTP://h", "javascript:",
    "<script>", "</script>", "<style>", "<textarea>", "<![CDATA[", "<?x?>", "<!DOCTYPE html>",
    '<meta name="pypi:repository-version" content="1.0">', '<meta content="1.0" name="x">',
    '<meta name="pypi:repository-version" content="2.0">', "<p>", "</p>", '"', "'", "=",
    " ", "\n", "<", ">", "[", "]", "\\", ":", "..", "/", "<![", "<![if x]>", "<![DOCTYPE html>",
]  # fmt: skip


def _corpus(tmp: Path) -> list[str]:
    texts = [
        (FIXTURES / project / "index.html").read_text()
        for project in ("click", "pynacl", "securesystemslib", "tuf")
    ]
    build_index(tmp / "sample")
    texts += [p.read_text() for p in sorted((tmp / "sample" / "simple").glob("*/index.html"))]
    rng = random.Random(3)
    for i, count in enumerate((1, 2, 5, 17, 60)):
        html, _ = make_index.render(make_index.project_name(i), count, rng)
        texts.append(html.decode())
    return texts


def _full(text: str) -> tuple | str:
    """What html.parser collects, or the rule it breaks."""
    try:
        return pages.collect_anchors(text, fast=False)
    except pages.PageError as exc:
        return exc.reason


def _parse(data: bytes, fast: bool) -> object:
    result = pages.decide(data, "html", "x", fast=fast).result
    return str(result) if isinstance(result, pages.PageError) else result


def _mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.choice((1, 1, 2, 3))):
        at = rng.randrange(len(text) + 1)
        op = rng.randrange(5)
        if op == 0:
            text = text[:at] + rng.choice(SNIPPETS) + text[at:]
        elif op == 1:
            text = text[:at] + text[at + rng.randrange(1, 8) :]
        elif op == 2:
            cut = rng.randrange(len(text) + 1)
            text = text[:at] + text[min(at, cut) : max(at, cut)][:200] + text[at:]
        elif op == 3 and at < len(text):
            text = text[:at] + text[at].swapcase() + text[at + 1 :]
        else:
            text = text[:at] + rng.choice(SNIPPETS) + text[at + 1 :]
    return text


def _check(text: str) -> bool:
    """Asserts the fast path is a faithful subset; True when it accepted."""
    fast = pages.collect_anchors(text, fast=True)
    if fast is not None:
        full = _full(text)
        assert not isinstance(full, str), (text, full)
        assert fast == full
    data = text.encode("utf-8", "surrogatepass")
    full = _parse(data, fast=False)
    assert _parse(data, fast=True) == full
    _check_count(data, full)
    return fast is not None


def _fast_tier(data: bytes, form: str = "index.html") -> str | None:
    """The fast tier of check_page that decides the page ("runs", "checks"), or None."""
    return pages.decide(data, form, "x", check=True, full=False).tier


def _run_decides_html(data: bytes) -> bool:
    """Whether check_page decides the page with every link in a run of link lines."""
    return _fast_tier(data) == "runs"


def _run_decides_json(data: bytes) -> bool:
    """Whether check_page decides the page from its run of file entries."""
    return _fast_tier(data, "index.v1_json") == "runs"


def _check_count(data: bytes, full: object, form: str = "index.html") -> bool:
    """``check_page`` gives the full parser's verdict; True when decided without it."""
    quick = pages.decide(data, form, "x", check=True, full=False).result
    if quick is not None:
        assert isinstance(full, pages.ProjectPage), (data[:300], full)
        assert quick == len(full.unverifiable())
    try:
        counted: object = pages.check_page(data, form, "x")
    except pages.PageError as exc:
        counted = str(exc)
    assert counted == (full if isinstance(full, str) else len(full.unverifiable()))
    return quick is not None


def test_unmutated_pages_take_the_fast_path(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    # The real PyPI pages (tests/fixtures/pypi-pages), the sample and generated pages.
    assert len(corpus) > 10
    for text in corpus:
        assert _check(text), text[:200]
        # ... and, for publishing, are validated without building the page model,
        # every link in a run of link lines.
        assert _run_decides_html(text.encode()), text[:200]


def test_random_mutations_never_differ(tmp_path: Path) -> None:
    rng = random.Random(11)
    corpus = [t[:6000] for t in _corpus(tmp_path)]  # mutations near the links, kept quick
    accepted = declined = counted = runs = 0
    for _ in range(6000):
        text = _mutate(rng.choice(corpus), rng)
        if _check(text):
            accepted += 1
        else:
            declined += 1
        data = text.encode("utf-8", "surrogatepass")
        counted += _fast_tier(data) is not None
        runs += _run_decides_html(data)
    assert accepted > 1000 and declined > 1000  # both sides of the fence were exercised
    assert counted > 200  # valid mutated pages decided without the page model
    assert runs > 200  # ... and with every link in a run


@pytest.mark.parametrize(
    "text",
    [
        '<a href="' + "&amp;" * 50_000,
        '<a href="x" data-yanked="' + "a&amp;" * 50_000,
        "<!--" + "a" * 200_000,
        '<a href="x">' + "y" * 200_000 + "<",
    ],
)
def test_near_misses_fail_in_linear_time(text: str) -> None:
    start = time.perf_counter()
    assert pages.collect_anchors(text, fast=True) is None
    assert time.perf_counter() - start < 0.5


def test_url_name_matches_urlsplit() -> None:
    rng = random.Random(2)
    alphabet = "ab./:-_%?#[]@!~;=+2F "
    prefixes = ["", "/", "//", "../", "../../", "./", "https://h", "https://h/", "http://h:8/"]
    for _ in range(20_000):
        url = rng.choice(prefixes) + "".join(rng.choice(alphabet) for _ in range(rng.randrange(9)))
        url = url.partition("#")[0]
        try:
            expected = unquote(urlsplit(url).path.rpartition("/")[2])
        except ValueError:
            expected = None
        try:
            got = html._url_name(url)  # a unit test of one helper, not of a tier
        except html._Reject:
            got = None
        assert got == expected, url


JSON_SNIPPETS = [
    '"', "'", ",", ":", "{", "}", "[", "]", "null", "true", "false", "0", "-1", "1.5", "NaN",
    '"size":-1,', '"size":true,', '"yanked":"r",', '"yanked":1,', '"requires-python":null,',
    '"requires-python":3,', '"core-metadata":true,', '"core-metadata":{"sha256":"' + "a" * 64
    + '"},', '"dist-info-metadata":{"md5":"' + "a" * 32 + '"},', '"core-metadata":"x",',
    '"upload-time":1,', '"hashes":{},', '"hashes":{"md5":"' + "b" * 32 + '"},', '"x":1,',
    '"filename":"a/b",', '"filename":"..",', '"filename":"",', '"url":"javascript:x",',
    "#sha256=" + "c" * 64, "#md5=" + "c" * 32, "%2F", "\\u0000", "\\n", "\\\\", "é", "A", "..",
    "/", " ", "\x00", "\x7f", '"sha256":"' + "D" * 64 + '"', '"name":"",', "<",
    '"size":1,', '"url":"/x",', '"filename":"x",', '"hashes":{"sha256":"' + "e" * 64 + '"},',
    ', "yanked": true', ', "provenance": null', "\\/", "\\u0041", '"files":[0],', "458458458458",
]  # fmt: skip


def _json_corpus(tmp: Path) -> list[str]:
    texts = [
        (FIXTURES / project / "index.v1_json").read_text()
        for project in ("click", "pynacl", "securesystemslib", "tuf")
    ]
    build_index(tmp / "sample")
    texts += [p.read_text() for p in sorted((tmp / "sample" / "simple").glob("*/index.v1_json"))]
    rng = random.Random(5)
    for i, count in enumerate((1, 2, 5, 17)):
        _, doc = make_index.render(make_index.project_name(i), count, rng)
        texts.append(doc.decode())
    return texts


def _json_verdict(data: bytes) -> object:
    try:
        return pages.parse_json(data, "x")
    except pages.PageError as exc:
        return str(exc)


def test_json_check_matches_full_parser(tmp_path: Path) -> None:
    corpus = _json_corpus(tmp_path)
    for text in corpus:  # unmutated pages are decided without the page model, as runs
        data = text.encode()
        assert _check_count(data, _json_verdict(data), form="index.v1_json"), text[:200]
        assert _run_decides_json(data), text[:200]
    rng = random.Random(13)
    short = [t[:4000] for t in corpus]
    decided = runs = 0
    for _ in range(6000):
        text = rng.choice(corpus if rng.random() < 0.3 else short)
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(len(text) + 1)
            op = rng.randrange(3)
            if op == 0:
                text = text[:at] + rng.choice(JSON_SNIPPETS) + text[at:]
            elif op == 1:
                text = text[:at] + text[at + rng.randrange(1, 8) :]
            else:
                text = text[:at] + rng.choice(JSON_SNIPPETS) + text[at + 1 :]
        data = text.encode("utf-8", "surrogatepass")
        decided += _check_count(data, _json_verdict(data), form="index.v1_json")
        runs += _run_decides_json(data)
    assert decided > 200
    assert runs > 200


RUN_SNIPPETS = [
    ' data-yanked=""', ' data-yanked="r"', ' data-requires-python="&gt;=3"', ' data-x="1"',
    ' data-provenance="p"', ' data-dist-info-metadata="true"', ' data-core-metadata="true"',
    ' data-core-metadata="sha256=' + "a" * 64 + '"', ' data-core-metadata="md5=' + "b" * 32 + '"',
    ' data-dist-info-metadata="sha256=' + "A" * 64 + '"', ' data-upload-time="t"',
    ' data-gpg-sig="s"',
    "#sha256=" + "c" * 64, "#sha256=" + "C" * 64, "#md5=" + "c" * 32, "#sha256=", "sha256=",
    "&amp;", "&", "&gt;", " ", "  ", "\t", "\n", '"', ">", "<", "/", "//", "..", ".", "%41", "?q",
    "https://h", "<br>", "<br />", "</a>", "<a>", "é", "A", "\r",
]  # fmt: skip


def _line_mutation(text: str, rng: random.Random) -> str:
    """A change to one link line: in it, or a copy of it (same or other digest)."""
    lines = text.splitlines(keepends=True)
    links = [i for i, line in enumerate(lines) if "<a " in line]
    if not links:
        return text
    i = rng.choice(links)
    line = lines[i]
    op = rng.randrange(7)
    if op == 0:  # the same file again, with its digest, another one, or none
        digest = re.search(r"#sha256=(\w+)", line)
        copy = line
        if digest and rng.random() < 0.7:
            other = rng.choice(["", "#sha256=" + "f" * 64, "#sha256=" + digest.group(1)])
            copy = line.replace(digest.group(0), other)
        lines.insert(rng.randrange(len(lines)), copy)
    elif op == 1:  # attributes in another order, or one given twice
        attrs = re.findall(r' data-[a-z-]+="[^"]*"', line)
        if attrs:
            rng.shuffle(attrs)
            new = "".join(attrs[: rng.randrange(len(attrs) + 1)] + attrs[:1])
            line = re.sub(r'(<a href="[^"]*")[^>]*>', lambda m: m.group(1) + new + ">", line)
        lines[i] = line
    elif op == 2:  # other link text
        lines[i] = re.sub(
            r">([^<]*)</a>",
            lambda m: ">" + rng.choice([f" {m[1]} ", "", m[1].upper(), m[1][:-1], "a b"]) + "</a>",
            line,
        )
    else:
        at = rng.randrange(len(line) + 1)
        snippet = rng.choice(RUN_SNIPPETS)
        if op == 3:
            lines[i] = line[:at] + snippet + line[at:]
        elif op == 4:
            lines[i] = line[:at] + line[at + rng.randrange(1, 8) :]
        else:
            lines[i] = line[:at] + snippet + line[at + 1 :]
    return "".join(lines)


def test_link_line_mutations_never_differ(tmp_path: Path) -> None:
    """Changes inside link lines reach every branch of ``_LINK_LINE`` and around it."""
    rng = random.Random(17)
    corpus = [t[:8000] for t in _corpus(tmp_path)]
    runs = declined = 0
    for _ in range(5000):
        text = _line_mutation(rng.choice(corpus), rng)
        if rng.random() < 0.2:
            text = _line_mutation(text, rng)
        _check(text)
        data = text.encode("utf-8", "surrogatepass")
        runs += _run_decides_html(data)
        declined += _fast_tier(data) is None
    assert runs > 300 and declined > 1000


LINE = '<a href="../../p/ab/{name}#sha256={digest}"{attrs}>{text}</a><br/>\n'
HEAD = (
    '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"></head><body>\n'
)


def _page(*lines: str) -> bytes:
    return (HEAD + "".join(lines) + "</body></html>\n").encode()


def _line(name: str = "a-1.whl", digest: str = "a" * 64, attrs: str = "", text: str = "") -> str:
    return LINE.format(name=name, digest=digest, attrs=attrs, text=text or name)


META = "sha256=" + "b" * 64
ALL_ATTRS = (
    f' data-requires-python="&gt;=3" data-yanked="" data-dist-info-metadata="{META}"'
    f' data-core-metadata="{META}" data-provenance="p" data-upload-time="t" data-gpg-sig="s"'
)


@pytest.mark.parametrize(
    ("lines", "runs"),
    [
        ([_line(), _line("b-1.whl", "b" * 64)], True),
        ([_line(attrs=ALL_ATTRS)], True),
        ([_line(attrs=f' data-core-metadata="true" data-dist-info-metadata="{META}"')], True),
        ([_line().replace("#sha256=" + "a" * 64, "")], True),  # unverifiable, counted
        ([_line(), _line()], True),  # listed twice, same digest: fine
        ([_line(), _line(digest="c" * 64)], False),  # two digests: the full parser refuses
        ([_line(), _line().replace("#sha256=" + "a" * 64, "")], False),  # a digest and none
        ([_line(attrs=' data-yanked="" data-yanked=""')], False),  # duplicate attribute
        ([_line(attrs=' data-upload-time="t" data-requires-python="x"')], False),  # other order
        ([_line(attrs=' data-x="1"')], False),
        ([_line(attrs=' data-core-metadata="md5=' + "b" * 32 + '"')], False),  # other hash
        ([_line(attrs=' data-core-metadata="sha512=' + "b" * 128 + '"')], False),
        ([_line(attrs=' data-core-metadata="sha256=' + "B" * 64 + '"')], False),
        ([_line(attrs=' data-core-metadata="sha256=' + "b" * 63 + '"')], False),
        ([_line(attrs=' data-dist-info-metadata="false"')], False),
        ([_line(text=" a-1.whl ")], False),  # link text with spaces: same file
        ([_line(text="a 1.whl")], False),
        ([_line(text="b-1.whl")], False),
        ([_line().replace(">a-1.whl<", "><")], False),  # no link text: named by the URL
        ([_line("a&amp;1.whl")], False),  # '&' in href
        ([_line("a%2D1.whl", text="a-1.whl")], False),
        ([_line(".", text=".")], False),
        ([_line("..", text="..")], False),
        ([_line(digest="A" * 64)], False),
        ([_line(digest="a" * 63)], False),
        ([_line(digest="\x00" * 64)], False),  # NUL: refused by _decode
        ([_line().replace("../../p/ab/", "https://h:1/p/"), _line("b")], True),
        ([_line().replace("../../p/ab/", "//h/")], False),
        ([_line().replace("../../p/ab/", "javascript:/")], False),
        ([_line().replace("<br/>\n", "\n    ")], True),
        ([_line().replace("<br/>\n", "<br>\r\n")], False),
        ([_line().replace("<a ", "<A ")], False),
    ],
)  # fmt: skip
def test_link_line_branches(lines: list[str], runs: bool) -> None:
    """Each rule of ``_LINK_LINE``: inside the run shape or not, the full parser's verdict."""
    data = _page(*lines)
    _check(data.decode("utf-8", "surrogatepass"))
    assert _run_decides_html(data) == runs


def test_link_line_url_matches_simple_url() -> None:
    """``_LINK_LINE``'s URL pieces accept what ``_SIMPLE_URL`` does, named by its end."""
    rng = random.Random(4)
    alphabet = "ab./:-_%?#[]@!~;=+&2F "
    prefixes = [
        "",
        "/",
        "//",
        "../",
        "../../",
        "./",
        ".../",
        "https://h",
        "https://h/",
        "http://h:8/",
    ]
    for _ in range(20_000):
        url = rng.choice(prefixes) + "".join(rng.choice(alphabet) for _ in range(rng.randrange(9)))
        url = url.partition("#")[0].replace('"', "")
        name = url.rpartition("/")[2]
        expected = bool(fields._SIMPLE_URL.fullmatch(url)) and name not in ("", ".", "..")
        line = f'<a href="{url}">{name}</a>'
        assert bool(checks._LINK_LINE.fullmatch(line)) == expected, url


ENTRY = {"filename": "a-1.whl", "url": "../../p/a-1.whl", "hashes": {"sha256": "a" * 64}}
ALL_MEMBERS = {
    **ENTRY,
    "requires-python": None,
    "size": 0,
    "upload-time": "t",
    "yanked": "r",
    "core-metadata": {"sha256": "b" * 64},
    "dist-info-metadata": False,
    "data-dist-info-metadata": True,
    "provenance": None,
}


def _json_page(*entries: str, extra: str = "") -> bytes:
    return (
        '{"meta":{"api-version":"1.1"},"name":"a",' + extra + '"files":[' + ",".join(entries) + "]}"
    ).encode()


def _entry(**changes: object) -> str:
    return json.dumps({**ENTRY, **changes}, separators=(",", ":"))


@pytest.mark.parametrize(
    ("data", "runs"),
    [
        (_json_page(_entry(), _entry(filename="b")), True),
        (_json_page(_entry(**ALL_MEMBERS)), True),
        (_json_page(json.dumps(ALL_MEMBERS)), True),  # spaces after ':' and ','
        (_json_page(json.dumps(ALL_MEMBERS, sort_keys=True)), True),  # Warehouse
        (_json_page(json.dumps({**ENTRY, "provenance": "p"}, sort_keys=True)), True),
        (_json_page(json.dumps(ENTRY, sort_keys=True, indent=1)), False),  # newlines
        (_json_page(_entry(hashes={})), True),
        (_json_page(_entry(), _entry()), True),
        (_json_page(_entry(), _entry(hashes={})), False),  # two digests: the full parser refuses
        (_json_page(_entry(), _entry(hashes={"sha256": "b" * 64})), False),
        (_json_page(_entry()[:-1] + ',"size":1,"size":2}'), False),  # duplicate key
        (_json_page(_entry()[:-1] + ',"url":"/b"}'), False),
        (_json_page(_entry(hashes={"md5": "b" * 32})), False),
        (_json_page(_entry(hashes={"sha256": "A" * 64})), False),
        (_json_page(_entry(url="../../p/a-1.whl#sha256=" + "a" * 64)), False),
        (_json_page(_entry(url="..\\/a")), False),
        (_json_page(_entry(size=-1)), False),
        (_json_page(_entry(size=1.0)), False),
        (_json_page(_entry()[:-1] + ',"size":' + "9" * 5000 + "}"), False),  # too many digits
        (_json_page(_entry(filename="..")), False),
        (_json_page(_entry(filename="a/b")), False),
        (_json_page(_entry(x=1)), False),  # unknown key: ignored by the full parser
        # the entries must be the files array itself
        (_json_page(extra='"x":[' + _entry() + "],"), False),
        (_json_page(_entry(), extra='"x":[' + _entry(filename="b", hashes={}) + "],"), False),
        (_json_page("0", extra='"x":[' + _entry() + "],"), False),
        (_json_page(extra='"x":[' + _entry() + "],").replace(b'"files":[]', b'"files":[0]'), False),
        (_json_page(_entry(), extra='"y":458458458458,'), False),
        (_json_page(_entry(), extra='"name":"b",'), False),  # duplicate key outside the run
        (_json_page(_entry()).replace(b'"1.1"', b"1.1"), False),
        (_json_page(_entry()).replace(b'"name":"a"', b'"name":NaN'), False),
    ],
)  # fmt: skip
def test_json_entry_run_branches(data: bytes, runs: bool) -> None:
    """Each rule of ``_count_entry_run``: inside the run shape or not, the full verdict."""
    _check_count(data, _json_verdict(data), form="index.v1_json")
    assert _run_decides_json(data) == runs


@pytest.mark.parametrize(
    ("form", "text"),
    [
        ("index.html", '<a href="/' + "a/" * 100_000),
        ("index.html", '<a href="../' * 50_000),
        ("index.html", '<a href="https://' + "a." * 100_000),
        ("index.html", '<a href="/' + "a" * 100_000 + '">' + "a" * 99_999 + "b</a>"),
        ("index.html", '<a href="/a" data-yanked="' + "&amp;" * 50_000),
        ("index.html", "<title>" * 50_000),
        ("index.html", "<br/>" * 50_000 + "<"),
        ("index.html", "<!--a-->" * 30_000 + "<!--"),
        ("index.v1_json", '{"files":[{"filename":"a","url":"/' + "a/" * 100_000),
        ("index.v1_json", '{"files":[{"filename":"' + "a" * 200_000),
        ("index.v1_json", '{"files":[' + '{"filename":"a",' * 30_000),
        (
            "index.v1_json",
            '{"files":[' + '{"filename":"a","url":"/a","hashes":{},"yanked":"{' * 10_000,
        ),
    ],
    ids=lambda value: value if value.startswith("index") else value[:30],
)
def test_check_page_near_misses_in_linear_time(form: str, text: str) -> None:
    data = text.encode()
    start = time.perf_counter()
    assert _fast_tier(data, form) is None
    assert time.perf_counter() - start < 0.5
