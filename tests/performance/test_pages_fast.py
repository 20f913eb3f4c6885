"""The fast HTML path accepts only what the full parser accepts, with identical results.

Differential: for real PyPI pages, the sample index, the benchmark generator's pages
and many random mutations of all of them, ``collect_html`` either declines (None) or
collects exactly the anchors and version tags ``html.parser`` collects; and
``parse_html`` (which tries the fast path first) gives the same page or the same
error as the full parser alone.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tuf_pypi import pages
from tuf_pypi.pages_fast import collect_html
from tuf_pypi.sample import build_index

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "pypi-pages"
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
    " ", "\n", "<", ">", "[", "]", "\\", ":", "..", "/",
]  # fmt: skip


def _corpus(tmp: Path) -> list[str]:
    texts = [
        (FIXTURES / project / "index.html").read_text()
        for project in ("click", "pynacl", "securesystemslib", "tuf")
        if (FIXTURES / project / "index.html").is_file()
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
    collector = pages._LinkCollector()
    try:
        collector.run(text)
    except pages._Reject as exc:
        return str(exc)
    return [(line, attrs, "".join(t)) for line, attrs, t in collector.anchors], collector.versions


def _parse(data: bytes, fast: bool) -> object:
    original = pages.collect_html
    try:
        if not fast:
            pages.collect_html = lambda text: None
        return pages.parse_html(data, "x")
    except pages.PageError as exc:
        return str(exc)
    finally:
        pages.collect_html = original


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
    fast = collect_html(text)
    if fast is not None:
        anchors, versions = fast
        full = _full(text)
        assert not isinstance(full, str), (text, full)
        assert ([(line, attrs, "".join(t)) for line, attrs, t in anchors], versions) == full
    data = text.encode("utf-8", "surrogatepass")
    full = _parse(data, fast=False)
    assert _parse(data, fast=True) == full
    _check_count(data, full)
    return fast is not None


def _check_count(data: bytes, full: object, form: str = "index.html") -> bool:
    """``check_page`` gives the full parser's verdict; True when decided without it."""
    if form == "index.html":
        quick = pages._count_unverifiable_html(data)
    else:
        quick = pages._count_unverifiable_json(data)
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
    # The real PyPI pages come from ../shared beside the checkout; without them the
    # sample and generated pages still make a corpus.
    assert len(corpus) > (10 if FIXTURES.is_dir() else 5)
    for text in corpus:
        assert _check(text), text[:200]
        # ... and, for publishing, are validated without building the page model.
        assert pages._count_unverifiable_html(text.encode()) is not None, text[:200]


def test_random_mutations_never_differ(tmp_path: Path) -> None:
    rng = random.Random(11)
    corpus = [t[:6000] for t in _corpus(tmp_path)]  # mutations near the links, kept quick
    accepted = declined = counted = 0
    for _ in range(6000):
        text = _mutate(rng.choice(corpus), rng)
        if _check(text):
            accepted += 1
        else:
            declined += 1
        counted += pages._count_unverifiable_html(text.encode("utf-8", "surrogatepass")) is not None
    assert accepted > 1000 and declined > 1000  # both sides of the fence were exercised
    assert counted > 200  # valid mutated pages decided without the page model


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
    assert collect_html(text) is None
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
            got = pages._url_name(url)
        except pages._Reject:
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
]  # fmt: skip


def _json_corpus(tmp: Path) -> list[str]:
    texts = [
        (FIXTURES / project / "index.v1_json").read_text()
        for project in ("click", "pynacl", "securesystemslib", "tuf")
        if (FIXTURES / project / "index.v1_json").is_file()
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
    for text in corpus:  # unmutated pages are decided without the page model
        data = text.encode()
        assert _check_count(data, _json_verdict(data), form="index.v1_json"), text[:200]
    rng = random.Random(13)
    short = [t[:4000] for t in corpus]
    decided = 0
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
    assert decided > 200
