"""The client API on an honest mirror: pages, files, PEP 658 metadata, and the answers
that are not mirror failures (not listed, no hash, bad setup)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuf_pypi.client import (
    Client,
    Limits,
    NoHashError,
    NotListedError,
    SetupError,
    VerifiedPage,
)
from tuf_pypi.client.errors import TamperedError, from_tuf
from tuf_pypi.client.mirrors import Mirror, file_urls
from tuf_pypi.pages import FileLink
from tuf_pypi.testing.mirror_server import Serve
from tuf_pypi.testing.signed_index import Index, sha256

from .checks import MakeClient


def test_pages_in_both_forms(index: Index, serve: Serve, make_client: MakeClient) -> None:
    mirror = serve(index)
    client = make_client(mirror)
    page = client.page("Demo_Core")  # any spelling: normalized
    assert isinstance(page, VerifiedPage)
    assert (page.project, page.form, page.target_path) == (
        "demo-core",
        "json",
        "simple/demo-core/index.v1_json",
    )
    assert page.data == index.page_bytes("demo-core")
    assert page.url == f"{mirror.url}simple/demo-core/"
    assert page.page.name == "demo-core"
    html = client.page("demo-core", "html")
    assert (html.form, html.data) == ("html", index.page_bytes("demo-core", "index.html"))
    assert client.page("demo-core", "index.html").data == html.data


def test_download_files_and_core_metadata(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(serve(index))
    for form in ("json", "html"):
        page = client.page("demo-lib", form)
        for link in page.page.files:
            path = client.download(page, link.filename, tmp_path / form)
            assert path == tmp_path / form / link.filename
            assert sha256(path.read_bytes()) == link.sha256
            meta = client.download_metadata(page, link, tmp_path / form)
            assert meta.name == link.filename + ".metadata"
            assert sha256(meta.read_bytes()) == link.metadata_sha256
    for form in ("json", "html"):
        assert not list((tmp_path / form).glob(".*"))  # no temporary files left


def test_unknown_projects_and_files_are_not_listed(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(serve(index))
    with pytest.raises(NotListedError, match="not listed on this index"):
        client.page("no-such-project")
    with pytest.raises(NotListedError):
        client.page("../../etc")
    page = client.page("demo-core")
    with pytest.raises(NotListedError, match="no file named"):
        client.download(page, "other-1.0-py3-none-any.whl", tmp_path)


@pytest.mark.parametrize(
    ("hashes", "shown"),
    [({}, "no hash at all"), ({"md5": "0" * 32}, "md5")],
)
def test_links_without_sha256_are_refused(
    index: Index,
    serve: Serve,
    make_client: MakeClient,
    tmp_path: Path,
    hashes: dict[str, str],
    shown: str,
) -> None:
    mirror = serve(index)
    client = make_client(mirror)
    page = client.page("demo-core")
    real = page.page.files[0]
    link = FileLink(real.filename, real.url, hashes, real.size, core_metadata=True)
    with pytest.raises(NoHashError, match="did not give a sha256") as excinfo:
        client.download(page, link, tmp_path)
    assert shown in str(excinfo.value)
    with pytest.raises(NoHashError):
        client.download_metadata(page, link, tmp_path)
    assert mirror.count(index.wheel("demo-core")[0]) == 0


def test_setup_errors(index: Index, tmp_path: Path) -> None:
    root = index.root_bytes
    with pytest.raises(SetupError, match="not an http"):
        Client(["ftp://example.org/"], root, tmp_path)
    with pytest.raises(SetupError, match="at least one"):
        Client([], root, tmp_path)
    with pytest.raises(SetupError, match="not root"):
        Client(["http://127.0.0.1/"], index.read("tuf/timestamp.json"), tmp_path)
    with pytest.raises(SetupError, match="not valid"):
        Client(["http://127.0.0.1/"], root.replace(b'"sig"', b'"sog"'), tmp_path)
    with pytest.raises(SetupError, match="cannot read"):
        Client(["http://127.0.0.1/"], tmp_path / "missing.json", tmp_path)
    with pytest.raises(SetupError, match="positive"):
        Limits(read_timeout=0)
    client = Client(["http://127.0.0.1/"], index.repo / "tuf" / "1.root.json", tmp_path / "c")
    with pytest.raises(SetupError, match="unknown page form"):
        client.page("demo-core", "xml")


def test_file_urls_follow_the_packages_segment() -> None:
    mirrors = [Mirror.at("http://a.example/pypi"), Mirror.at("https://b.example/")]
    page = mirrors[0].page_url("demo")
    assert page == "http://a.example/pypi/simple/demo/"
    assert file_urls(page, "../../packages/ab/cd/f.whl", mirrors) == [
        "http://a.example/pypi/packages/ab/cd/f.whl",
        "https://b.example/packages/ab/cd/f.whl",
    ]
    # PyPI's own pages: absolute links to the file host, tried after the mirrors.
    assert file_urls(page, "https://files.example/packages/x/f.whl", mirrors) == [
        "http://a.example/pypi/packages/x/f.whl",
        "https://b.example/packages/x/f.whl",
        "https://files.example/packages/x/f.whl",
    ]
    # The last /packages/ segment counts, so a mirror under /packages/ works too.
    deep = Mirror.at("http://c.example/packages/pypi/")
    assert file_urls(deep.page_url("demo"), "../../packages/f.whl", [deep]) == [
        "http://c.example/packages/pypi/packages/f.whl"
    ]
    # No /packages/ segment: only the resolved URL.
    assert file_urls(page, "../../files/f.whl", mirrors) == ["http://a.example/pypi/files/f.whl"]


def test_errors_print_their_kind_on_one_line() -> None:
    from tuf.api.exceptions import LengthOrHashMismatchError

    error = from_tuf(LengthOrHashMismatchError("hash differs"), "download", "downloading x")
    assert isinstance(error, TamperedError)
    assert str(error) == "downloading x: hash differs [tampered]"
    assert error.kind == "tampered" and error.attack
    assert not NotListedError("x").attack and str(NotListedError("x")) == "x"
