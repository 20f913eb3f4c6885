"""Pages as the proxy serves them: every field the index signed, links through the proxy."""

from __future__ import annotations

import json
from urllib.parse import urljoin, urlsplit

import pytest

from tuf_pypi.pages import FileLink, ProjectPage, parse_html, parse_json
from tuf_pypi.proxy.pages import (
    find_offered,
    render_html,
    render_json,
    render_root_html,
    render_root_json,
)
from tuf_pypi.proxy.routes import FileRoute, route

SHA_A, SHA_B, SHA_C, SHA_M = "aa" * 32, "bb" * 32, "cc" * 32, "dd" * 32
PAGE_URL = "http://127.0.0.1:9/simple/demo/"

SIGNED_JSON = json.dumps(
    {
        "meta": {"api-version": "1.1", "_last-serial": 7},
        "name": "Demo",
        "versions": ["1.0", "2.0", "3.0"],
        "project-status": {"status": "active"},
        "files": [
            {
                "filename": "demo-1.0.tar.gz",
                "url": "https://files.example/demo-1.0.tar.gz#sha256=" + SHA_A,
                "hashes": {"md5": "0" * 32},
                "requires-python": ">=3.8,<4",
                "size": 10,
                "upload-time": "2024-01-01T00:00:00Z",
                "yanked": 'bad <release> & "quotes"',
                "core-metadata": {"sha256": SHA_M},
                "gpg-sig": False,
            },
            {
                "filename": "demo-2.0-py3-none-any.whl",
                "url": "../../packages/demo-2.0-py3-none-any.whl",
                "hashes": {"sha256": SHA_B},
                "size": 20,
                "yanked": True,
                "dist-info-metadata": True,  # no hash: cannot be verified
            },
            {
                "filename": "demo-3.0.zip",
                "url": "/demo-3.0.zip",
                "hashes": {"md5": "1" * 32},  # md5 only: cannot be verified
            },
            {
                "filename": "demo-3.0-py3-none-any.whl",
                "url": "demo-3.0-py3-none-any.whl",
                "hashes": {"sha256": SHA_C, "blake2b": "e" * 128},
                "requires-python": None,
                "dist-info-metadata": {"sha256": SHA_M},
            },
        ],
    }
).encode()


@pytest.fixture
def signed() -> ProjectPage:
    return parse_json(SIGNED_JSON, "signed")


def offered_names(page: ProjectPage) -> list[str]:
    return [link.filename for link in page.files]


def comparable(link: FileLink, *, html: bool = False) -> tuple:
    """A link's fields, without its URL (HTML cannot carry size or upload time)."""
    return (
        link.filename,
        dict(link.hashes) if not html else {"sha256": link.sha256},
        None if html else link.size,
        link.requires_python,
        link.yanked,
        dict(link.core_metadata) if isinstance(link.core_metadata, dict) else link.core_metadata,
        None if html else link.upload_time,
    )


def expected_links(page: ProjectPage) -> list[FileLink]:
    return [link for link in page.files if link.sha256 is not None]


def assert_links_point_at_proxy(page: ProjectPage) -> None:
    for link in page.files:
        url = urljoin(PAGE_URL, link.url)
        assert "?" not in url
        assert route(urlsplit(url).path) == FileRoute("demo", link.sha256, link.filename)


def test_json_keeps_every_signed_field(signed: ProjectPage) -> None:
    data = render_json("demo", signed, SIGNED_JSON)
    served = parse_json(data, "served")
    # Unverifiable files are left out; everything else is as signed.
    assert offered_names(served) == [
        "demo-1.0.tar.gz",
        "demo-2.0-py3-none-any.whl",
        "demo-3.0-py3-none-any.whl",
    ]
    for mine, theirs in zip(served.files, expected_links(signed), strict=True):
        want = comparable(theirs)
        if theirs.metadata_sha256 is None:  # a core-metadata flag without hash is dropped
            want = (*want[:5], False, want[6])
        assert comparable(mine) == want
    assert_links_point_at_proxy(served)
    doc = json.loads(data)
    # Unknown keys and the 1.1 keys survive, at the top and in file entries.
    assert doc["meta"] == {"api-version": "1.1", "_last-serial": 7}
    assert doc["versions"] == ["1.0", "2.0", "3.0"]
    assert doc["project-status"] == {"status": "active"}
    assert doc["files"][0]["gpg-sig"] is False
    # PEP 714: JSON carries the metadata hash as core-metadata only, never the legacy key
    # (an object there crashes pip 23.0), even where the signed page used the old name.
    assert doc["files"][2]["core-metadata"] == {"sha256": SHA_M}
    assert all("dist-info-metadata" not in entry for entry in doc["files"])
    assert "core-metadata" not in doc["files"][1]


def test_html_from_json(signed: ProjectPage) -> None:
    served = parse_html(render_html("demo", signed), "served")
    assert served.api_version == "1.1"
    for mine, theirs in zip(served.files, expected_links(signed), strict=True):
        want = comparable(theirs, html=True)
        if theirs.metadata_sha256 is None:
            want = (*want[:5], False, want[6])
        assert comparable(mine, html=True) == want
    assert_links_point_at_proxy(served)
    # PEP 714: HTML carries the new attribute and, with the same value, the legacy one.
    value = f"sha256={SHA_M}"
    text = render_html("demo", signed).decode()
    core, legacy = f'data-core-metadata="{value}"', f'data-dist-info-metadata="{value}"'
    assert text.count(core) == text.count(legacy) == 2  # demo-1.0.tar.gz and demo-3.0 wheel


def test_json_and_html_from_html(signed: ProjectPage) -> None:
    html_signed = render_html("demo", signed)  # stands in for an index that signs HTML only
    page = parse_html(html_signed, "signed")
    as_json = parse_json(render_json("demo", page, html_signed), "served")
    assert as_json.api_version == "1.0"  # HTML has no size or versions list, which 1.1 needs
    assert as_json.name == "demo"
    assert [comparable(link, html=True) for link in as_json.files] == [
        comparable(link, html=True) for link in page.files
    ]
    assert_links_point_at_proxy(as_json)
    again = parse_html(render_html("demo", page), "served")
    assert [comparable(link, html=True) for link in again.files] == [
        comparable(link, html=True) for link in page.files
    ]


def test_find_offered(signed: ProjectPage) -> None:
    wheel = find_offered(signed, SHA_C, "demo-3.0-py3-none-any.whl")
    assert wheel is not None and not wheel.metadata and wheel.sha256 == SHA_C
    metadata = find_offered(signed, SHA_C, "demo-3.0-py3-none-any.whl.metadata")
    assert metadata is not None and metadata.metadata and metadata.sha256 == SHA_M
    assert metadata.filename == "demo-3.0-py3-none-any.whl.metadata"
    # A sha256 the page does not give for that name (the page changed): not offered.
    assert find_offered(signed, SHA_B, "demo-3.0-py3-none-any.whl") is None
    # No hash for the metadata file, or none for the file itself: not offered.
    assert find_offered(signed, SHA_B, "demo-2.0-py3-none-any.whl.metadata") is None
    assert find_offered(signed, SHA_A, "demo-3.0.zip") is None
    assert find_offered(signed, SHA_A, "nothing.whl") is None


def test_root_index_says_it_is_not_verified() -> None:
    doc = json.loads(render_root_json())
    assert doc["projects"] == [] and "not signed" in doc["meta"]["_note"]
    assert b"not signed" in render_root_html()
