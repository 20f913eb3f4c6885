"""Tests for tuf_pypi.pages: real PyPI pages in both forms, and every rejection rule."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from pathlib import Path

import pytest

from tuf_pypi import pages
from tuf_pypi.pages import (
    FORMS,
    FileLink,
    PageError,
    ProjectPage,
    parse_html,
    parse_json,
    parse_page,
)

#: Real pypi.org pages, shipped with the tests (tests/fixtures/pypi-pages/README.md).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pypi-pages"
PROJECTS = ["click", "pynacl", "securesystemslib", "tuf"]

SRC = "mirror/simple/demo/index.test"
SHA = hashlib.sha256(b"demo").hexdigest()
SHA2 = hashlib.sha256(b"other").hexdigest()
MD5 = hashlib.md5(b"demo").hexdigest()
URL = "https://files.example.org/packages/ab/cd/demo-1.0.tar.gz"


# --- helpers --------------------------------------------------------------------------


def fixture(project: str, name: str) -> bytes:
    return (FIXTURES / project / name).read_bytes()


def html_page(*anchors: str, head: str = "") -> bytes:
    body = "\n".join(anchors)
    return (
        "<!DOCTYPE html>\n<html>\n<head>"
        f"{head}<title>Links for demo</title></head>\n"
        f"<body>\n<h1>Links for demo</h1>\n{body}\n</body>\n</html>\n"
    ).encode()


def anchor(
    filename: str = "demo-1.0.tar.gz", fragment: str = f"#sha256={SHA}", attrs: str = ""
) -> str:
    url = URL.rsplit("/", 1)[0] + "/" + filename
    return f'<a href="{url}{fragment}"{attrs}>{filename}</a><br/>'


def json_file(filename: str = "demo-1.0.tar.gz", **fields: object) -> dict[str, object]:
    """A PEP 691 file entry; keyword names use "_" where the JSON key has "-"."""
    entry: dict[str, object] = {
        "filename": filename,
        "url": URL.rsplit("/", 1)[0] + "/" + filename,
        "hashes": {"sha256": SHA},
    }
    for key, value in fields.items():
        entry[key.replace("_", "-")] = value
    return entry


def json_page(*files: object, api: object = "1.1", name: object = "demo") -> bytes:
    return json.dumps({"meta": {"api-version": api}, "name": name, "files": list(files)}).encode()


def without(entry: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in entry.items() if k != key}


def rejected(parse, data: bytes, *fragments: str) -> str:
    """Assert that parsing fails, naming the source and every fragment."""
    with pytest.raises(PageError) as info:
        parse(data, SRC)
    message = str(info.value)
    assert message.startswith(SRC + ": ")
    assert info.value.source == SRC
    assert message == f"{SRC}: {info.value.reason}"
    for fragment in fragments:
        assert fragment in message
    return message


def one(page: ProjectPage) -> FileLink:
    assert len(page.files) == 1
    return page.files[0]


# --- real PyPI pages ------------------------------------------------------------------


@pytest.mark.parametrize("project", PROJECTS)
@pytest.mark.parametrize("filename", sorted(FORMS))
def test_fixture_parses(project: str, filename: str) -> None:
    page = parse_page(fixture(project, filename), filename, f"{project}/{filename}")
    assert page.form == FORMS[filename]
    assert len(page.files) > 50
    # Every file PyPI serves has a sha256: nothing is unverifiable.
    assert page.unverifiable() == ()
    for link in page.files:
        assert page.find(link.filename) is link
        assert link.url.startswith("https://files.pythonhosted.org/packages/")
        assert "#" not in link.url
        assert link.url.rsplit("/", 1)[1] == link.filename
        assert set(link.hashes) == {"sha256"}
        assert link.sha256 is not None and len(link.sha256) == 64
        assert link.upload_time is not None


@pytest.mark.parametrize("project", PROJECTS)
def test_fixture_forms_agree(project: str) -> None:
    html = parse_html(fixture(project, "index.html"), "index.html")
    data = parse_json(fixture(project, "index.v1_json"), "index.v1_json")

    # The forms list files in different orders, but the same files with the same facts.
    assert [f.filename for f in html.files] != [] and len(html.files) == len(data.files)
    assert {f.filename for f in html.files} == {f.filename for f in data.files}
    for link in html.files:
        other = data.find(link.filename)
        assert other is not None
        assert link.url == other.url
        assert link.sha256 == other.sha256
        assert link.hashes == other.hashes
        assert link.yanked == other.yanked
        assert link.requires_python == other.requires_python
        assert link.core_metadata == other.core_metadata
        assert link.upload_time == other.upload_time
        # Only JSON (PEP 700) gives sizes.
        assert link.size is None
        assert isinstance(other.size, int) and other.size > 0

    # Only JSON names the project; these HTML pages carry no version meta tag.
    assert html.name is None
    assert data.name == project
    assert data.api_version == "1.1"
    assert html.api_version is None


@pytest.mark.parametrize(
    ("project", "filenames", "reason"),
    [
        (
            "click",
            ["click-8.2.2-py3-none-any.whl", "click-8.2.2.tar.gz"],
            "Unintended change in behavior of boolean options and None",
        ),
        (
            "securesystemslib",
            ["securesystemslib-1.5.0-py3-none-any.whl", "securesystemslib-1.5.0.tar.gz"],
            "1.5.0 is incompatible with a major user (sigstore-python) "
            "https://github.com/secure-systems-lab/securesystemslib/issues/1203",
        ),
    ],
)
def test_fixture_yanked_reasons(project: str, filenames: list[str], reason: str) -> None:
    for name in FORMS:
        page = parse_page(fixture(project, name), name, name)
        assert sorted(f.filename for f in page.files if f.yanked) == filenames
        for filename in filenames:
            assert page.find(filename).yanked == reason


@pytest.mark.parametrize("project", ["pynacl", "tuf"])
def test_fixture_nothing_yanked(project: str) -> None:
    for name in FORMS:
        page = parse_page(fixture(project, name), name, name)
        assert all(link.yanked is False for link in page.files)


def test_fixture_requires_python_is_unescaped() -> None:
    raw = fixture("securesystemslib", "index.html")
    assert b"&gt;" in raw and b"&lt;" in raw
    page = parse_html(raw, "index.html")
    assert page.find("securesystemslib-0.20.0.tar.gz").requires_python == (
        ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, !=3.5.*, <4"
    )
    assert parse_html(fixture("pynacl", "index.html"), "x").find(
        "pynacl-1.6.2.tar.gz"
    ).requires_python == (">=3.8")
    for project in PROJECTS:
        for link in parse_html(fixture(project, "index.html"), "x").files:
            assert "&" not in (link.requires_python or "")


def test_fixture_details() -> None:
    page = parse_json(fixture("click", "index.v1_json"), "x")
    link = page.find("click-0.1.tar.gz")
    assert link.sha256 == "9f8290d502cf11fad5ccc64d19f2724abcbc11549e6a8e2cdafc530109f198b4"
    assert link.size == 17913
    assert link.upload_time == "2014-04-28T11:22:51.341948Z"
    assert link.requires_python is None
    # Old names keep their case.
    assert page.find("Click-7.0.tar.gz") is not None
    assert page.find("click-7.0.tar.gz") is None


def test_fixtures_carry_no_core_metadata() -> None:
    # These pages, as served, give no PEP 658 metadata; the synthetic tests below cover it.
    for project in PROJECTS:
        for name in FORMS:
            page = parse_page(fixture(project, name), name, name)
            assert {link.core_metadata for link in page.files} == {False}
            assert all(link.metadata_sha256 is None for link in page.files)


# --- HTML: what is read ---------------------------------------------------------------


def test_html_basic_link() -> None:
    link = one(parse_html(html_page(anchor(fragment=f"#SHA256={SHA.upper()}")), SRC))
    assert link == FileLink(filename="demo-1.0.tar.gz", url=URL, hashes={"sha256": SHA})
    assert link.sha256 == SHA
    assert link.size is None
    assert link.requires_python is None
    assert link.yanked is False
    assert link.core_metadata is False
    assert link.upload_time is None


def test_html_anchor_text_is_stripped() -> None:
    data = html_page(f'<a href="{URL}#sha256={SHA}">\n   demo-1.0.tar.gz\n  </a>')
    assert one(parse_html(data, SRC)).filename == "demo-1.0.tar.gz"


def test_html_filename_falls_back_to_the_url() -> None:
    data = html_page(
        f'<a href="/whl/demo-1.0%2Bcpu-py3-none-any.whl#sha256={SHA}"></a>',
        f'<a href="demo-2.0.tar.gz#sha256={SHA2}"/>',
    )
    page = parse_html(data, SRC)
    assert [f.filename for f in page.files] == [
        "demo-1.0+cpu-py3-none-any.whl",
        "demo-2.0.tar.gz",
    ]
    assert page.files[0].url == "/whl/demo-1.0%2Bcpu-py3-none-any.whl"


def test_html_text_matching_a_quoted_url() -> None:
    data = html_page(f'<a href="/whl/demo-1.0%2Bcpu.tar.gz#sha256={SHA}">demo-1.0+cpu.tar.gz</a>')
    assert one(parse_html(data, SRC)).filename == "demo-1.0+cpu.tar.gz"


@pytest.mark.parametrize(
    "href",
    [
        "../../packages/ab/demo-1.0.tar.gz",
        "/packages/ab/demo-1.0.tar.gz",
        "demo-1.0.tar.gz",
        "file:///srv/packages/demo-1.0.tar.gz",
        "http://mirror.example/demo-1.0.tar.gz?x=1",
        "HTTPS://mirror.example/demo-1.0.tar.gz",
    ],
)
def test_html_urls_are_kept_as_written(href: str) -> None:
    data = html_page(f'<a href="{href}#sha256={SHA}">demo-1.0.tar.gz</a>')
    assert one(parse_html(data, SRC)).url == href


def test_html_empty_fragment_means_no_hash() -> None:
    link = one(parse_html(html_page(anchor(fragment="#")), SRC))
    assert link.url == URL
    assert link.hashes == {}


def test_html_ignores_anchors_without_href_and_hidden_markup() -> None:
    data = html_page(
        '<a name="top">Top</a>',
        f'<!-- <a href="evil-1.0.tar.gz#sha256={SHA2}">evil-1.0.tar.gz</a> -->',
        "<script>var s = '<a href=\"evil-1.0.tar.gz\">evil-1.0.tar.gz</a>';</script>",
        anchor(),
    )
    assert [f.filename for f in parse_html(data, SRC).files] == ["demo-1.0.tar.gz"]


def test_html_a_new_anchor_closes_the_open_one() -> None:
    data = html_page(
        f'<a href="a-1.0.tar.gz#sha256={SHA}">a-1.0.tar.gz<a href="b-1.0.tar.gz">b-1.0.tar.gz</a>'
    )
    assert [f.filename for f in parse_html(data, SRC).files] == ["a-1.0.tar.gz", "b-1.0.tar.gz"]


def test_html_entities_in_text_and_attributes() -> None:
    data = html_page(
        f'<a href="/p/demo-1.0.tar.gz#sha256={SHA}" data-yanked="broke &lt;3.8 &amp; more">'
        "demo&#45;1.0.tar.gz</a>"
    )
    link = one(parse_html(data, SRC))
    assert link.filename == "demo-1.0.tar.gz"
    assert link.yanked == "broke <3.8 & more"


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        (' data-requires-python="&gt;=3.8"', ">=3.8"),
        (' data-requires-python="&gt;=2.7, !=3.0.*, &lt;4"', ">=2.7, !=3.0.*, <4"),
        (" data-requires-python='>=3.8'", ">=3.8"),
        (' data-requires-python=""', None),
        (" data-requires-python", None),
        ("", None),
    ],
)
def test_html_requires_python(attr: str, expected: str | None) -> None:
    assert one(parse_html(html_page(anchor(attrs=attr)), SRC)).requires_python == expected


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("", False),
        (" data-yanked", True),
        (' data-yanked=""', True),
        (' data-yanked="bad build"', "bad build"),
    ],
)
def test_html_yanked(attr: str, expected: bool | str) -> None:
    assert one(parse_html(html_page(anchor(attrs=attr)), SRC)).yanked == expected


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("", False),
        (' data-core-metadata="true"', True),
        (' data-dist-info-metadata="true"', True),
        (f' data-core-metadata="sha256={SHA2}"', {"sha256": SHA2}),
        (f' data-core-metadata="SHA256={SHA2.upper()}"', {"sha256": SHA2}),
        (f' data-dist-info-metadata="sha256={SHA2}"', {"sha256": SHA2}),
        (f' data-core-metadata="md5={MD5}"', {"md5": MD5}),
        # PEP 714: the new name wins when both are present.
        (f' data-dist-info-metadata="true" data-core-metadata="sha256={SHA2}"', {"sha256": SHA2}),
        (f' data-core-metadata="true" data-dist-info-metadata="sha256={SHA2}"', True),
    ],
)
def test_html_core_metadata(attr: str, expected: object) -> None:
    link = one(parse_html(html_page(anchor(attrs=attr)), SRC))
    assert link.core_metadata == expected
    expected_sha = expected.get("sha256") if isinstance(expected, dict) else None
    assert link.metadata_sha256 == expected_sha


def test_html_upload_time_is_kept() -> None:
    data = html_page(anchor(attrs=' data-upload-time="2024-01-02T03:04:05.678901Z"'))
    assert one(parse_html(data, SRC)).upload_time == "2024-01-02T03:04:05.678901Z"


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.4"])
def test_html_repository_version(version: str) -> None:
    head = f'<meta name="pypi:repository-version" content="{version}">'
    page = parse_html(html_page(anchor(), head=head), SRC)
    assert page.api_version == version
    assert page.name is None


def test_html_repeated_identical_version_meta_is_fine() -> None:
    head = '<meta name="pypi:repository-version" content="1.1">' * 2
    assert parse_html(html_page(anchor(), head=head), SRC).api_version == "1.1"


def test_html_other_meta_tags_are_ignored() -> None:
    head = '<meta charset="utf-8"><meta name="generator" content="2.0">'
    assert parse_html(html_page(anchor(), head=head), SRC).api_version is None


def test_html_hashes_other_than_sha256() -> None:
    page = parse_html(
        html_page(
            anchor("a-1.0.tar.gz", fragment=f"#md5={MD5}"),
            anchor("b-1.0.tar.gz", fragment=""),
            anchor("c-1.0.tar.gz", fragment="#sha512=" + "ab" * 64),
            anchor("d-1.0.tar.gz"),
            anchor("e-1.0.tar.gz", fragment="#blake2b_256=" + "cd" * 32),
        ),
        SRC,
    )
    assert page.find("a-1.0.tar.gz").hashes == {"md5": MD5}
    assert page.find("c-1.0.tar.gz").hashes == {"sha512": "ab" * 64}
    assert page.find("e-1.0.tar.gz").hashes == {"blake2b_256": "cd" * 32}
    assert [f.filename for f in page.unverifiable()] == [
        "a-1.0.tar.gz",
        "b-1.0.tar.gz",
        "c-1.0.tar.gz",
        "e-1.0.tar.gz",
    ]


def test_html_empty_project_page() -> None:
    page = parse_html(html_page(), SRC)
    assert page.files == ()
    assert page.unverifiable() == ()
    assert page.find("demo-1.0.tar.gz") is None


def test_html_identical_duplicates_are_kept() -> None:
    other = f'<a href="https://mirror.example/demo-1.0.tar.gz#sha256={SHA}">demo-1.0.tar.gz</a>'
    page = parse_html(html_page(anchor(), other), SRC)
    assert len(page.files) == 2
    assert page.find("demo-1.0.tar.gz") is page.files[0]


# --- HTML: what is refused ------------------------------------------------------------


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)//demo-1.0.tar.gz",
        "JavaScript:alert(1)//demo-1.0.tar.gz",
        " javascript:alert(1)//demo-1.0.tar.gz",
        "data:application/gzip;base64,AAAA/demo-1.0.tar.gz",
        "vbscript:x/demo-1.0.tar.gz",
    ],
)
def test_html_rejects_script_schemes(href: str) -> None:
    data = html_page(f'<a href="{href}">demo-1.0.tar.gz</a>')
    rejected(parse_html, data, "forbidden scheme", "line ")


@pytest.mark.parametrize(
    ("fragment", "words"),
    [
        ("#sha256", "expected #<hashname>=<hexdigest>"),
        ("#sha256=xyz", "sha256 digest 'xyz' is not 64 hex digits"),
        ("#sha256=" + SHA[:-1], "is not 64 hex digits"),
        ("#sha256=" + SHA + "0", "is not 64 hex digits"),
        ("#sha256=" + SHA[:-1] + "g", "is not 64 hex digits"),
        ("#md5=" + SHA, "md5 digest"),
        ("#egg=demo", "egg digest"),
        ("#sha-256=" + SHA, "malformed hash name"),
        ("#=" + SHA, "malformed hash name"),
        (f"#sha256={SHA}&subdirectory=x", "is not 64 hex digits"),
    ],
)
def test_html_rejects_malformed_fragments(fragment: str, words: str) -> None:
    message = rejected(parse_html, html_page(anchor(fragment=fragment)), "hash fragment", words)
    assert "line 6" in message


@pytest.mark.parametrize(
    ("tag", "words"),
    [
        ('<a href="">demo-1.0.tar.gz</a>', "empty href"),
        ('<a href="  ">demo-1.0.tar.gz</a>', "empty href"),
        ("<a href>demo-1.0.tar.gz</a>", "empty href"),
        ('<a href="demo-1.0.tar.gz\n">demo-1.0.tar.gz</a>', "control characters"),
        ('<a href="x/demo-1.0.tar.gz\t">demo-1.0.tar.gz</a>', "control characters"),
        ('<a href="https://[::1/demo-1.0.tar.gz">demo-1.0.tar.gz</a>', "malformed URL"),
        (
            f'<a href="{URL}#sha256={SHA}">evil-1.0.tar.gz</a>',
            "anchor text 'evil-1.0.tar.gz' does not match the file name 'demo-1.0.tar.gz'",
        ),
        (f'<a href="https://example.org/simple/#sha256={SHA}"></a>', "empty filename"),
        ('<a href="x/..">..</a>', "not a plain file name"),
        ('<a href="x/a%2Fb.tar.gz"></a>', "not a plain file name"),
        ('<a href="x/a%5Cb.tar.gz"></a>', "not a plain file name"),
        ('<a href="x/a%0Ab.tar.gz"></a>', "control characters"),
        (f'<a href="{URL}" href="evil-1.0.tar.gz">demo-1.0.tar.gz</a>', "href more than once"),
        (
            f'<a href="{URL}" data-yanked="" data-yanked="">demo-1.0.tar.gz</a>',
            "data-yanked more than once",
        ),
    ],
)
def test_html_rejects_bad_links(tag: str, words: str) -> None:
    rejected(parse_html, html_page(tag), words)


@pytest.mark.parametrize(
    ("attr", "words"),
    [
        (' data-core-metadata="yes"', "neither 'true' nor <hashname>=<hexdigest>"),
        (' data-core-metadata="false"', "neither 'true'"),
        (" data-core-metadata", "neither 'true'"),
        (' data-dist-info-metadata=""', "neither 'true'"),
        (' data-core-metadata="sha256=1234"', "data-core-metadata: sha256 digest"),
        (' data-dist-info-metadata="sha256=nothex"', "data-dist-info-metadata: sha256 digest"),
    ],
)
def test_html_rejects_bad_core_metadata(attr: str, words: str) -> None:
    rejected(parse_html, html_page(anchor(attrs=attr)), words)


@pytest.mark.parametrize("version", ["2.0", "0.9", "10.1"])
def test_html_rejects_other_major_versions(version: str) -> None:
    head = f'<meta name="pypi:repository-version" content="{version}">'
    rejected(
        parse_html, html_page(anchor(), head=head), f"unsupported repository version {version}"
    )


@pytest.mark.parametrize("content", ['content="1"', 'content="v1.0"', 'content=""', ""])
def test_html_rejects_malformed_versions(content: str) -> None:
    head = f'<meta name="pypi:repository-version" {content}>'
    rejected(parse_html, html_page(anchor(), head=head), "malformed repository version")


def test_html_rejects_conflicting_versions() -> None:
    head = (
        '<meta name="pypi:repository-version" content="1.0">'
        '<meta name="pypi:repository-version" content="1.1">'
    )
    rejected(parse_html, html_page(anchor(), head=head), "conflicting pypi:repository-version")


def test_html_version_is_checked_before_links() -> None:
    head = '<meta name="pypi:repository-version" content="2.0">'
    data = html_page(anchor(fragment="#sha256=nothex"), head=head)
    rejected(parse_html, data, "unsupported repository version 2.0")


def test_html_rejects_base_href() -> None:
    data = html_page(anchor(), head='<base href="https://elsewhere.example/">')
    rejected(parse_html, data, "<base href> is not supported")


def test_html_allows_base_without_href() -> None:
    assert len(parse_html(html_page(anchor(), head='<base target="_top">'), SRC).files) == 1


@pytest.mark.parametrize(
    "data",
    [
        b'{"meta": {"api-version": "1.1"}, "name": "demo", "files": []}',
        b'  \n\t{"files": []}',
        b"[]",
    ],
)
def test_html_rejects_json_content(data: bytes) -> None:
    rejected(parse_html, data, "wrong content for the form")


@pytest.mark.parametrize(
    "data",
    [
        # Each of these takes html.parser's close() minutes (quadratic) if it gets there.
        b"<a" * 100_000,
        b"</" * 100_000,
        b"<!" * 100_000,
        b"<!--a>" * 50_000,
        b"<![CDATA[a>" * 50_000,
        html_page(anchor()) + b"<a href=" + b"<a" * 100_000,
        html_page(anchor())[:-2],
    ],
)
def test_html_rejects_markup_left_open(data: bytes) -> None:
    rejected(parse_html, data, "markup left open at the end of the page")


@pytest.mark.parametrize(
    "data",
    [
        b"<a" * 100_000 + b">",
        b"</" * 100_000 + b">",
        b"<!x" * 100_000 + b">",
        b"<a " + b"=" * 200_000 + b">",
        b"<a" + b"/" * 200_000 + b">",
        html_page(anchor()) + b"<script>x" + b"</" * 100_000,
    ],
)
def test_html_pathological_markup_is_parsed(data: bytes) -> None:
    assert len(parse_html(data, SRC).files) <= 1


def test_html_many_attributes() -> None:
    data = html_page(f'<a href="{URL}" ' + "b=c " * 100_000 + ">demo-1.0.tar.gz</a>")
    rejected(parse_html, data, "<a> has the attribute b more than once")


def test_html_chunked_feeding_gives_the_same_page(monkeypatch: pytest.MonkeyPatch) -> None:
    data = fixture("pynacl", "index.html")
    whole = parse_html(data, SRC)
    for size in (1, 7, 100, 4096):
        monkeypatch.setattr(pages.html, "_FEED_CHUNK", size)
        assert parse_html(data, SRC) == whole


def test_html_rejects_conflicting_duplicates() -> None:
    data = html_page(anchor(), anchor(fragment=f"#sha256={SHA2}"))
    rejected(parse_html, data, "'demo-1.0.tar.gz' is listed twice with different hashes")


def test_html_rejects_duplicate_with_and_without_hash() -> None:
    rejected(parse_html, html_page(anchor(), anchor(fragment="")), "listed twice")


def test_html_error_names_the_line() -> None:
    data = html_page(anchor("a-1.0.tar.gz"), anchor("b-1.0.tar.gz", fragment="#sha256=1"))
    rejected(parse_html, data, "link on line 7:")


# --- JSON: what is read ---------------------------------------------------------------


def test_json_full_entry() -> None:
    entry = json_file(
        size=1234,
        requires_python=">=3.8",
        yanked="broken wheel",
        core_metadata={"sha256": SHA2},
        upload_time="2024-01-02T03:04:05Z",
    )
    page = parse_json(json_page(entry), SRC)
    assert page.form == "json"
    assert page.name == "demo"
    assert page.api_version == "1.1"
    assert one(page) == FileLink(
        filename="demo-1.0.tar.gz",
        url=URL,
        hashes={"sha256": SHA},
        size=1234,
        requires_python=">=3.8",
        yanked="broken wheel",
        core_metadata={"sha256": SHA2},
        upload_time="2024-01-02T03:04:05Z",
    )
    assert one(page).metadata_sha256 == SHA2


def test_json_minimal_entry() -> None:
    link = one(parse_json(json_page(json_file()), SRC))
    assert link.size is None
    assert link.requires_python is None
    assert link.yanked is False
    assert link.core_metadata is False
    assert link.upload_time is None


@pytest.mark.parametrize("api", ["1.0", "1.1", "1.3"])
def test_json_api_versions(api: str) -> None:
    assert parse_json(json_page(api=api), SRC).api_version == api


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"core_metadata": True}, True),
        ({"core_metadata": False}, False),
        ({"core_metadata": {}}, True),
        ({"dist_info_metadata": True}, True),
        ({"dist_info_metadata": {"sha256": SHA2}}, {"sha256": SHA2}),
        ({"core_metadata": {"SHA256": SHA2.upper()}}, {"sha256": SHA2}),
        ({"core_metadata": {"sha256": SHA2}, "dist_info_metadata": True}, {"sha256": SHA2}),
        ({"core_metadata": False, "dist_info_metadata": {"sha256": SHA2}}, False),
    ],
)
def test_json_core_metadata(fields: dict[str, object], expected: object) -> None:
    assert one(parse_json(json_page(json_file(**fields)), SRC)).core_metadata == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(False, False), (True, True), ("reason", "reason"), ("", True)],
)
def test_json_yanked(value: object, expected: object) -> None:
    assert one(parse_json(json_page(json_file(yanked=value)), SRC)).yanked == expected


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("<4", "<4")])
def test_json_requires_python(value: object, expected: object) -> None:
    link = one(parse_json(json_page(json_file(requires_python=value)), SRC))
    assert link.requires_python == expected


def test_json_size_zero() -> None:
    assert one(parse_json(json_page(json_file(size=0)), SRC)).size == 0


def test_json_hashes_are_lowercased() -> None:
    entry = json_file(hashes={"SHA256": SHA.upper(), "Md5": MD5.upper()})
    assert one(parse_json(json_page(entry), SRC)).hashes == {"sha256": SHA, "md5": MD5}


def test_json_unverifiable() -> None:
    page = parse_json(
        json_page(
            json_file("a-1.0.tar.gz", hashes={}),
            json_file("b-1.0.tar.gz", hashes={"md5": MD5}),
            json_file("c-1.0.tar.gz"),
        ),
        SRC,
    )
    assert [f.filename for f in page.unverifiable()] == ["a-1.0.tar.gz", "b-1.0.tar.gz"]
    assert page.find("c-1.0.tar.gz").sha256 == SHA


def test_json_url_fragment_is_removed_and_merged() -> None:
    entry = json_file(hashes={"md5": MD5})
    entry["url"] = f"{URL}#sha256={SHA}"
    link = one(parse_json(json_page(entry), SRC))
    assert link.url == URL
    assert link.hashes == {"md5": MD5, "sha256": SHA}


def test_json_url_fragment_agreeing_with_hashes() -> None:
    entry = json_file()
    entry["url"] = f"{URL}#sha256={SHA.upper()}"
    assert one(parse_json(json_page(entry), SRC)).hashes == {"sha256": SHA}


def test_json_relative_url_is_kept() -> None:
    entry = json_file()
    entry["url"] = "../../packages/demo-1.0.tar.gz"
    assert one(parse_json(json_page(entry), SRC)).url == "../../packages/demo-1.0.tar.gz"


def test_json_unknown_keys_are_ignored() -> None:
    doc = {
        "meta": {"api-version": "1.1", "_last-serial": "1"},
        "name": "demo",
        "versions": ["1.0"],
        "project-status": {"status": "active"},
        "files": [json_file(gpg_sig=False, provenance=None)],
    }
    assert one(parse_json(json.dumps(doc).encode(), SRC)).filename == "demo-1.0.tar.gz"


def test_json_empty_files() -> None:
    page = parse_json(json_page(), SRC)
    assert page.files == ()
    assert page.name == "demo"


# --- JSON: what is refused ------------------------------------------------------------


def test_json_rejects_api_version_2() -> None:
    rejected(parse_json, json_page(api="2.0"), "unsupported repository version 2.0")


def test_json_version_is_checked_before_files() -> None:
    data = json.dumps({"meta": {"api-version": "2.0"}, "name": 1, "files": {}}).encode()
    rejected(parse_json, data, "unsupported repository version 2.0")


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ([], "must be a JSON object, not an array"),
        ("demo", "must be a JSON object, not a string"),
        ({"name": "demo", "files": []}, "missing 'meta'"),
        ({"meta": [], "name": "demo", "files": []}, "'meta' must be an object, not an array"),
        ({"meta": {}, "name": "demo", "files": []}, "missing 'meta.api-version'"),
        ({"meta": {"api-version": 1.0}, "name": "d", "files": []}, "must be a string"),
        ({"meta": {"api-version": "1"}, "name": "d", "files": []}, "malformed repository version"),
        ({"meta": {"api-version": "1.x"}, "name": "d", "files": []}, "malformed repository"),
        ({"meta": {"api-version": "1.1"}, "files": []}, "missing 'name'"),
        ({"meta": {"api-version": "1.1"}, "name": None, "files": []}, "'name' must be a string"),
        ({"meta": {"api-version": "1.1"}, "name": "", "files": []}, "'name' is empty"),
        ({"meta": {"api-version": "1.1"}, "name": "demo"}, "missing 'files'"),
        ({"meta": {"api-version": "1.1"}, "name": "d", "files": {}}, "'files' must be an array"),
    ],
)
def test_json_rejects_bad_structure(doc: object, words: str) -> None:
    rejected(parse_json, json.dumps(doc).encode(), words)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (without(json_file(), "filename"), "missing 'filename'"),
        (without(json_file(), "url"), "missing 'url'"),
        (without(json_file(), "hashes"), "missing 'hashes'"),
        ({**json_file(), "filename": 3}, "'filename' must be a string, not a number"),
        ({**json_file(), "filename": ""}, "empty filename"),
        ({**json_file(), "filename": "../demo-1.0.tar.gz"}, "not a plain file name"),
        ({**json_file(), "filename": "a\\demo-1.0.tar.gz"}, "not a plain file name"),
        ({**json_file(), "filename": ".."}, "not a plain file name"),
        ({**json_file(), "filename": "demo\n.tar.gz"}, "control characters"),
        ({**json_file(), "url": None}, "'url' must be a string, not null"),
        ({**json_file(), "url": ""}, "empty URL"),
        ({**json_file(), "url": "javascript:alert(1)"}, "forbidden scheme"),
        ({**json_file(), "url": "data:,x"}, "forbidden scheme"),
        ({**json_file(), "url": f"{URL}#sha256"}, "malformed hash fragment"),
        ({**json_file(), "url": f"{URL}#sha256={SHA2}"}, "URL fragment and 'hashes'"),
        ({**json_file(), "hashes": []}, "'hashes' must be an object"),
        ({**json_file(), "hashes": {"sha256": 5}}, "'sha256' must be a string, not a number"),
        ({**json_file(), "hashes": {"sha256": "abc"}}, "sha256 digest 'abc' is not 64 hex"),
        ({**json_file(), "hashes": {"md5": SHA}}, "md5 digest"),
        ({**json_file(), "hashes": {"sha 256": SHA}}, "malformed hash name"),
        ({**json_file(), "hashes": {"sha256": SHA, "SHA256": SHA}}, "gives sha256 twice"),
        (json_file(size=True), "'size' must be a non-negative integer, not True"),
        (json_file(size=-1), "'size' must be a non-negative integer"),
        (json_file(size=1.5), "'size' must be a non-negative integer"),
        (json_file(size="12"), "'size' must be a non-negative integer"),
        (json_file(size=None), "'size' must be a non-negative integer"),
        (json_file(requires_python=3), "'requires-python' must be a string or null"),
        (json_file(yanked=None), "'yanked' must be a boolean or a string, not null"),
        (json_file(yanked=1), "'yanked' must be a boolean or a string"),
        (json_file(core_metadata="true"), "'core-metadata' must be a boolean or an object"),
        (json_file(core_metadata=None), "'core-metadata' must be a boolean or an object"),
        (json_file(dist_info_metadata=[]), "'dist-info-metadata' must be a boolean"),
        (json_file(core_metadata={"sha256": "x"}), "'core-metadata': sha256 digest"),
        (json_file(upload_time=0), "'upload-time' must be a string"),
        (json_file(upload_time=None), "'upload-time' must be a string, not null"),
    ],
)
def test_json_rejects_bad_files(entry: dict[str, object], words: str) -> None:
    message = rejected(parse_json, json_page(json_file("ok-1.0.tar.gz"), entry), words)
    assert "files[1]" in message
    if isinstance(entry.get("filename"), str):
        assert repr(entry["filename"]) in message


def test_json_rejects_non_object_file() -> None:
    rejected(parse_json, json_page("demo-1.0.tar.gz"), "files[0]: must be an object, not a string")


def test_json_rejects_conflicting_duplicates() -> None:
    data = json_page(json_file(), json_file(hashes={"sha256": SHA2}))
    rejected(parse_json, data, "'demo-1.0.tar.gz' is listed twice with different hashes")


@pytest.mark.parametrize(
    "text",
    [
        '{"meta": {"api-version": "1.1"}, "name": "demo", "name": "evil", "files": []}',
        '{"meta": {"api-version": "1.1", "api-version": "2.0"}, "name": "demo", "files": []}',
        '{"meta": {"api-version": "1.1"}, "name": "demo", "files": [{"filename": "d-1.tar.gz",'
        ' "url": "d-1.tar.gz", "hashes": {"sha256": "' + SHA + '", "sha256": "' + SHA2 + '"}}]}',
        '{"meta": {"api-version": "1.1"}, "name": "demo", "files": [{"filename": "d-1.tar.gz",'
        ' "url": "d-1.tar.gz", "url": "evil-1.tar.gz", "hashes": {}}]}',
    ],
)
def test_json_rejects_duplicate_keys(text: str) -> None:
    rejected(parse_json, text.encode(), "duplicate key")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"meta": ', "not valid JSON: Expecting value at line 1 column 10"),
        ('{"meta": {"api-version": "1.1"}} trailing', "not valid JSON: Extra data"),
        ('{"meta": {"api-version": "1.1"}, "name": "d", "files": [], "x": NaN}', "NaN"),
        ('{"meta": {"api-version": "1.1"}, "name": "d", "files": [], "x": -Infinity}', "Infinity"),
        ('{"x": ' + "1" * 5000 + "}", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ("\ufeff{}", "not valid JSON"),
    ],
)
def test_json_rejects_invalid_json(text: str, words: str) -> None:
    rejected(parse_json, text.encode(), words)


@pytest.mark.parametrize("data", [html_page(anchor()), b"  <html></html>", b"\n<!DOCTYPE html>"])
def test_json_rejects_html_content(data: bytes) -> None:
    rejected(parse_json, data, "wrong content for the form")


# --- rules shared by both forms -------------------------------------------------------

PARSERS = [parse_html, parse_json]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"<html>\xff</html>", 6),
        (b'{"name": "d\xc3"}', 11),
        (b"caf\xc3\xa9 \xed\xa0\x80", 6),  # a UTF-8 encoded surrogate
        (b"\x80", 0),
    ],
)
def test_rejects_invalid_utf8(parse, data: bytes, offset: int) -> None:
    rejected(parse, data, f"not valid UTF-8 at byte offset {offset}")


@pytest.mark.parametrize("parse", PARSERS)
def test_rejects_nul_bytes(parse) -> None:
    rejected(parse, b"<html>\x00</html>", "NUL byte at byte offset 6")


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("data", [b"", b"  \n\t "])
def test_rejects_empty_pages(parse, data: bytes) -> None:
    rejected(parse, data, "empty page")


@pytest.mark.parametrize(
    ("parse", "data"), [(parse_html, html_page(anchor())), (parse_json, json_page(json_file()))]
)
def test_size_limit(monkeypatch: pytest.MonkeyPatch, parse, data: bytes) -> None:
    monkeypatch.setattr(pages.model, "MAX_PAGE_BYTES", len(data))
    assert len(parse(data, SRC).files) == 1
    monkeypatch.setattr(pages.model, "MAX_PAGE_BYTES", len(data) - 1)
    rejected(parse, data, f"page is {len(data)} bytes", f"limit of {len(data) - 1} bytes")


@pytest.mark.parametrize("parse", PARSERS)
def test_size_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch, parse) -> None:
    monkeypatch.setattr(pages.model, "MAX_PAGE_BYTES", 10)
    message = rejected(parse, b"\xff" * 11, "over the limit")
    assert "UTF-8" not in message


def test_max_page_bytes_default() -> None:
    assert pages.MAX_PAGE_BYTES == 64 * 1024 * 1024


@pytest.mark.parametrize("parse", PARSERS)
def test_pages_must_be_bytes(parse) -> None:
    with pytest.raises(TypeError):
        parse("<html></html>", SRC)


@pytest.mark.parametrize("parse", PARSERS)
def test_bytearray_is_accepted(parse) -> None:
    data = html_page(anchor()) if parse is parse_html else json_page(json_file())
    assert parse(bytearray(data), SRC) == parse(data, SRC)


def test_long_values_are_cut_in_messages() -> None:
    message = rejected(parse_html, html_page(anchor(fragment="#sha256=" + "z" * 10_000)))
    assert len(message) < 400


# --- dispatch, model and error type ---------------------------------------------------


@pytest.mark.parametrize(
    ("form", "expected"),
    [("html", "html"), ("index.html", "html"), ("json", "json"), ("index.v1_json", "json")],
)
def test_parse_page_dispatch(form: str, expected: str) -> None:
    data = html_page(anchor()) if expected == "html" else json_page(json_file())
    page = parse_page(data, form, SRC)
    assert page.form == expected
    assert one(page).sha256 == SHA


def test_parse_page_passes_the_source_on() -> None:
    with pytest.raises(PageError) as info:
        parse_page(b"{}", "index.html", "https://mirror.example/simple/demo/")
    assert str(info.value).startswith("https://mirror.example/simple/demo/: wrong content")


@pytest.mark.parametrize("form", ["xml", "index.json", "HTML", ""])
def test_parse_page_unknown_form(form: str) -> None:
    with pytest.raises(ValueError, match="unknown page form") as info:
        parse_page(html_page(), form, SRC)
    assert not isinstance(info.value, PageError)


def test_forms_constant() -> None:
    assert FORMS == {"index.html": "html", "index.v1_json": "json"}


def test_page_error() -> None:
    error = PageError("simple/demo/index.html", "empty page")
    assert isinstance(error, ValueError)
    assert error.source == "simple/demo/index.html"
    assert error.reason == "empty page"
    assert str(error) == "simple/demo/index.html: empty page"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.reason, str(copy)) == (error.source, error.reason, str(error))


def test_model_is_frozen_and_hashable() -> None:
    page = parse_html(html_page(anchor()), SRC)
    with pytest.raises(dataclasses.FrozenInstanceError):
        page.files[0].url = "https://evil.example/"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        page.files = ()  # type: ignore[misc]
    assert len({page.files[0], parse_html(html_page(anchor()), SRC).files[0]}) == 1
    assert hash(page) == hash(parse_html(html_page(anchor()), SRC))


def test_project_page_from_a_list() -> None:
    link = FileLink("demo-1.0.tar.gz", URL, {})
    page = ProjectPage(form="json", name="demo", api_version="1.0", files=[link])  # type: ignore[arg-type]
    assert page.files == (link,)
    assert page.find("demo-1.0.tar.gz") is link
    assert page.unverifiable() == (link,)


def test_metadata_sha256_without_hash() -> None:
    assert FileLink("d.tar.gz", "d.tar.gz", {}, core_metadata=True).metadata_sha256 is None
    assert FileLink("d.tar.gz", "d.tar.gz", {}, core_metadata={"md5": MD5}).metadata_sha256 is None


def test_all() -> None:
    assert sorted(pages.__all__) == sorted(
        [
            "FORMS",
            "MAX_PAGE_BYTES",
            "FileLink",
            "PageError",
            "ProjectPage",
            "parse_html",
            "parse_json",
            "parse_page",
            # check_page and the seam that says which tier decided a page
            "check_page",
            "TIERS",
            "Decision",
            "decide",
            "collect_anchors",
        ]
    )
    assert all(hasattr(pages, name) for name in pages.__all__)


def test_decide_names_the_tier_that_decided() -> None:
    """The seam the differential tests use: each tier, and what it gave."""
    plain = html_page(anchor())
    unusual = html_page(anchor(attrs=' data-yanked="a" data-yanked=""'))
    assert pages.decide(plain, "html", SRC, check=True) == pages.Decision("runs", 0)
    assert pages.decide(plain, "html", SRC).tier == "grammar"
    assert pages.decide(plain, "html", SRC, fast=False) == pages.Decision(
        "parser", parse_html(plain, SRC)
    )
    assert pages.decide(json_page(json_file()), "index.v1_json", SRC, check=True).tier == "runs"
    indented = json.dumps(json.loads(json_page(json_file(hashes={}))), indent=1).encode()
    assert pages.decide(indented, "json", SRC, check=True) == pages.Decision("checks", 1)
    refused = pages.decide(unusual, "html", SRC, check=True)
    assert refused.tier == "parser" and isinstance(refused.result, PageError)
    assert "more than once" in str(refused.result)
    assert pages.decide(unusual, "html", SRC, check=True, full=False) == pages.Decision(None, None)
    with pytest.raises(ValueError, match="unknown page form"):
        pages.decide(plain, "xml", SRC)
    assert pages.TIERS == ("runs", "checks", "grammar", "parser")


def test_collect_anchors_by_either_tier() -> None:
    text = html_page(anchor()).decode()
    fast = pages.collect_anchors(text, fast=True)
    assert fast is not None and fast == pages.collect_anchors(text, fast=False)
    assert fast[0][0][2] == "demo-1.0.tar.gz"
    assert pages.collect_anchors("<p>" + text, fast=True) is None
    with pytest.raises(PageError, match="markup left open"):
        pages.collect_anchors("<a href='x'", fast=False)


# --- large pages ----------------------------------------------------------------------


def test_large_pages_in_both_forms_agree() -> None:
    count = 20_000
    anchors = []
    files = []
    for i in range(count):
        filename = f"demo-1.{i}-py3-none-any.whl"
        digest = hashlib.sha256(filename.encode()).hexdigest()
        meta = hashlib.sha256(digest.encode()).hexdigest()
        yanked = f' data-yanked="reason {i}"' if i % 1000 == 0 else ""
        anchors.append(
            f'<a href="https://files.example.org/packages/{filename}#sha256={digest}" '
            f'data-requires-python="&gt;=3.{i % 14}" data-core-metadata="sha256={meta}" '
            f'data-upload-time="2024-01-01T00:00:00Z"{yanked}>{filename}</a><br/>'
        )
        files.append(
            json_file(
                filename,
                url=f"https://files.example.org/packages/{filename}",
                hashes={"sha256": digest},
                requires_python=f">=3.{i % 14}",
                core_metadata={"sha256": meta},
                upload_time="2024-01-01T00:00:00Z",
                yanked=f"reason {i}" if i % 1000 == 0 else False,
                size=i,
            )
        )
    head = '<meta name="pypi:repository-version" content="1.1">'
    html = parse_html(html_page(*anchors, head=head), "big/index.html")
    data = parse_json(json_page(*files), "big/index.v1_json")
    assert len(html.files) == len(data.files) == count
    assert html.unverifiable() == data.unverifiable() == ()
    assert [dataclasses.replace(link, size=None) for link in data.files] == list(html.files)
    last = f"demo-1.{count - 1}-py3-none-any.whl"
    assert html.find(last) == dataclasses.replace(data.find(last), size=None)
    assert sum(1 for link in html.files if link.yanked) == count // 1000


@pytest.mark.parametrize("markup", ["<![DOCTYPE html>", "<![foo x]>", "<![ bar ]>"])
def test_html_markup_that_trips_html_parser_is_a_page_error(markup: str) -> None:
    """html.parser raises AssertionError on these; a bad page must not crash a publish."""
    rejected(parse_html, html_page(anchor(), head=markup), "malformed markup")


# --- found by tests/pages/test_fuzz_pages.py ----------------------------------------------
#
# Minimal inputs of the disagreements the fuzzer found. Each was accepted by parse_page
# (and check_page) and then read differently, or not at all, further on: by the other
# form, by the proxy's rendering of the page, or by the file system.


def both_verdicts(data: bytes, form: str) -> str:
    """The refusal of ``data``, which check_page (publishing) must give as parse_page does."""
    with pytest.raises(PageError) as parsed:
        parse_page(data, form, SRC)
    with pytest.raises(PageError) as checked:
        pages.check_page(data, form, SRC)
    assert str(checked.value) == str(parsed.value)
    return str(parsed.value)


@pytest.mark.parametrize(
    "filename", ["demo-1.0.tar.gz ", " demo-1.0.tar.gz", "demo-1.0.tar.gz\u00a0", "demo\u3000"]
)
def test_filenames_with_outer_white_space_are_refused(filename: str) -> None:
    """``{"filename": "0 "}`` was accepted; the proxy then wrote ``<a href=".../0%20">0 </a>``,
    whose text HTML reads stripped ("0"), so its own page was refused (and a trailing space
    is dropped from file names on some file systems)."""
    message = both_verdicts(json_page(json_file(filename)), "json")
    assert "starts or ends with white space" in message
    # HTML can name such a file only by the URL (the text is read stripped).
    href = URL.rsplit("/", 1)[0] + "/" + filename.replace(" ", "%20")
    data = html_page(f'<a href="{href}#sha256={SHA}"></a>')
    assert "starts or ends with white space" in both_verdicts(data, "html")


def test_inner_white_space_in_filenames_is_kept() -> None:
    link = one(parse_json(json_page(json_file("demo 1.0.tar.gz")), SRC))
    assert link.filename == "demo 1.0.tar.gz"


@pytest.mark.parametrize(
    "text",
    [
        '{"meta":{"api-version":"1.1"},"name":"demo","files":[],"x":1e400}',
        '{"meta":{"api-version":"1.1"},"name":"demo","files":[],"x":[-1E+999]}',
        '{"meta":{"api-version":"1.1"},"name":"demo","files":[{"filename":"d-1.tar.gz",'
        '"url":"d-1.tar.gz","hashes":{},"x":1e400}]}',
    ],
)
def test_json_numbers_that_overflow_are_refused(text: str) -> None:
    """``1e400`` was read as inf, an unknown member kept it, and the proxy wrote the page
    out again with ``Infinity``, which is not JSON (our own parser refused it)."""
    assert "not valid JSON: the number" in both_verdicts(text.encode(), "json")


def test_json_large_but_finite_numbers_are_read() -> None:
    text = '{"meta":{"api-version":"1.1"},"name":"demo","files":[],"x":1e308,"y":1e-400}'
    assert parse_json(text.encode(), SRC).files == ()


@pytest.mark.parametrize(
    ("entry", "what"),
    [
        (json_file(requires_python="\0"), "NUL"),
        (json_file(yanked="bad\0"), "NUL"),
        (json_file(upload_time="\0"), "NUL"),
        (json_file(x=["\0"]), "NUL"),
        (json_file(yanked="\ud800"), "lone surrogate"),
        (json_file("demo-1.0\udc80.tar.gz"), "lone surrogate"),
        (json_file(x={"\udfff": 1}), "lone surrogate"),
    ],
)
def test_json_escapes_of_nul_and_lone_surrogates_are_refused(entry: object, what: str) -> None:
    """``"requires-python": "\\u0000"`` was accepted, and the proxy's HTML rendering of the
    page then held a NUL, which HTML pages cannot (refused); ``"\\ud800"`` could not be
    encoded as UTF-8 again, so rendering the page, or naming a file after it, crashed."""
    data = json_page(entry)
    assert b"\\u" in data  # json.dumps escapes them: valid UTF-8, no raw NUL
    assert f"holds a {what}" in both_verdicts(data, "json")


def test_json_escaped_text_is_read() -> None:
    """Escapes of real characters (a surrogate pair among them) are fine."""
    data = json_page(json_file(yanked="caf\u00e9 \U0001f600", requires_python=">=3\t"))
    assert b"\\ud83d\\ude00" in data
    assert one(parse_json(data, SRC)).yanked == "caf\u00e9 \U0001f600"
    assert pages.check_page(data, "json", SRC) == 0
    # A backslash and "u0000" is text, not an escape of NUL.
    data = json_page(json_file(yanked="\\u0000 \\ud800"))
    assert b"\\\\u0000" in data
    assert one(parse_json(data, SRC)).yanked == "\\u0000 \\ud800"


def at_stack_depth(frames: int, call):
    """``call()`` made ``frames`` Python frames deeper than the caller."""
    return at_stack_depth(frames - 1, call) if frames else call()


def nested_page(levels: int) -> bytes:
    """A page whose unknown member makes it ``levels`` deep in all (the page is one)."""
    inner = "[" * (levels - 1) + "]" * (levels - 1)
    return ('{"meta":{"api-version":"1.1"},"name":"demo","files":[],"x":' + inner + "}").encode()


@pytest.mark.parametrize("frames", [0, 600])
def test_json_nesting_limit_does_not_depend_on_the_callers_stack(frames: int) -> None:
    """A page 500 deep was accepted by a caller near the top of the stack and refused
    ("nested too deeply", a RecursionError) by one 600 frames down: the upload queue and a
    publish or a client deep in their own stacks could disagree about the same bytes."""
    for levels in (65, 500, 5000):
        data = nested_page(levels)
        message = at_stack_depth(frames, lambda data=data: both_verdicts(data, "json"))
        assert "nested too deeply (more than 64 levels)" in message
    page = at_stack_depth(frames, lambda: parse_json(nested_page(64), SRC))
    assert page.files == ()
    assert at_stack_depth(frames, lambda: pages.check_page(nested_page(64), "json", SRC)) == 0
