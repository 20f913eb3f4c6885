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
    assert _parse(data, fast=True) == _parse(data, fast=False)
    return fast is not None


def test_unmutated_pages_take_the_fast_path(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    assert len(corpus) > 10
    for text in corpus:
        assert _check(text), text[:200]


def test_random_mutations_never_differ(tmp_path: Path) -> None:
    rng = random.Random(11)
    corpus = [t[:6000] for t in _corpus(tmp_path)]  # mutations near the links, kept quick
    accepted = declined = 0
    for _ in range(6000):
        if _check(_mutate(rng.choice(corpus), rng)):
            accepted += 1
        else:
            declined += 1
    assert accepted > 1000 and declined > 1000  # both sides of the fence were exercised


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
