"""nginx/tuf-pypi.conf, served by a real nginx: clients work, and the headers keep CDNs right."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest
import urllib3

from tuf_pypi import layout
from tuf_pypi.client import Client
from tuf_pypi.mirror.sync import SyncOptions, sync_mirror
from tuf_pypi.repository import load_view
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.nginx import TEMPLATE, render_site

from .helpers import fetch_page, ngclient

IMMUTABLE = "public, max-age=31536000, immutable"
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
_http = urllib3.PoolManager()


def get(url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    """One GET, body as served (not decoded), redirects not followed."""
    headers.setdefault("Accept-Encoding", "identity")
    return _http.request(
        "GET", url, headers=headers, redirect=False, decode_content=False, retries=False
    )


def _vary(response: urllib3.BaseHTTPResponse) -> set[str]:
    values = response.headers.getlist("Vary")
    return {v.strip() for value in values for v in value.split(",")}


@pytest.fixture
def served(make_repo, nginx):
    signed = make_repo()
    return signed, nginx(signed.repo)


def test_clients_verify_everything_through_nginx(served, tmp_path) -> None:
    signed, url = served
    trusted_root = (signed.repo / "tuf/1.root.json").read_bytes()
    updater = ngclient(url, trusted_root, tmp_path / "ng")
    for project in ("demo-app", "demo-core", "demo-lib", "demo-extra"):
        for form in layout.PAGE_FORMS:
            path = layout.page_target(project, form)
            assert fetch_page(updater, path, tmp_path / "p") == (signed.repo / path).read_bytes()

    add_release(signed.repo, SampleDist("demo-app", "2.0"))
    signed.publisher().publish()
    with Client([url], trusted_root, tmp_path / "client") as client:
        page = client.page("demo-app")
        assert page.data == signed.page("demo-app", "index.v1_json").read_bytes()
        wheel = client.download(page, "demo_app-2.0-py3-none-any.whl", tmp_path / "dl")
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == page.link(wheel.name).sha256


def test_metadata_cache_headers(served) -> None:
    signed, url = served
    view = load_view(signed.storage)
    for name in ("timestamp.json", "root.json"):
        response = get(f"{url}/tuf/{name}")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["ETag"] and response.headers["Last-Modified"]
        assert response.data == (signed.repo / "tuf" / name).read_bytes()
    versioned = ["1.root.json", f"{view.snapshot.signed.version}.snapshot.json"]
    versioned.append(layout.metadata_filename("bin-0", view.version_of("bin-0")))
    for name in versioned:
        response = get(f"{url}/tuf/{name}")
        assert response.status == 200, name
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert response.headers["Content-Type"] == "application/json"
    # The next root version does not exist *yet*: a CDN must not remember that.
    missing = get(f"{url}/tuf/2.root.json")
    assert missing.status == 404
    assert missing.headers["Cache-Control"] == "no-store"


def test_live_pages_are_negotiated_like_banderx(served) -> None:
    signed, url = served
    html = signed.page("demo-app", "index.html").read_bytes()
    json_page = signed.page("demo-app", "index.v1_json").read_bytes()
    cases = [
        (
            {"Accept": "application/vnd.pypi.simple.v1+json"},
            json_page,
            "application/vnd.pypi.simple.v1+json",
        ),
        ({"Accept": PIP_ACCEPT}, json_page, "application/vnd.pypi.simple.v1+json"),
        (
            {"Accept": "application/vnd.pypi.simple.latest+json"},
            json_page,
            "application/vnd.pypi.simple.v1+json",
        ),
        ({"Accept": "text/html"}, html, "text/html"),
        ({"Accept": "application/vnd.pypi.simple.v1+html"}, html, "text/html"),
        ({}, html, "text/html"),
    ]
    for headers, body, content_type in cases:
        response = get(f"{url}/simple/demo-app/", **headers)
        assert response.status == 200, headers
        assert response.data == body, headers
        assert response.headers["Content-Type"] == content_type, headers
        assert "Accept" in _vary(response)
        assert response.headers["Cache-Control"] == "public, max-age=600"
    redirect = get(f"{url}/simple/demo-app")
    assert redirect.status == 301 and redirect.headers["Location"] == "/simple/demo-app/"
    assert get(f"{url}/simple/", Accept=PIP_ACCEPT).status == 200
    assert get(f"{url}/simple/no-such-project/").headers["Cache-Control"] == "no-store"


def test_page_copies_and_packages_are_immutable(served) -> None:
    signed, url = served
    copies = sorted((signed.repo / "simple/demo-app").glob("*.index.*"))
    assert {c.name.split(".", 1)[1] for c in copies} == set(layout.PAGE_FORMS)
    types = {"index.html": "text/html", "index.v1_json": "application/vnd.pypi.simple.v1+json"}
    for copy in copies:
        response = get(f"{url}/simple/demo-app/{copy.name}", Accept=PIP_ACCEPT)
        assert response.status == 200
        assert response.data == copy.read_bytes()
        assert response.headers["Content-Type"] == types[copy.name.split(".", 1)[1]]
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert "Accept" not in _vary(response)
    wheel = next((signed.repo / "packages").rglob("*.whl"))
    response = get(f"{url}/{wheel.relative_to(signed.repo).as_posix()}")
    assert response.status == 200 and response.data == wheel.read_bytes()
    assert response.headers["Cache-Control"] == IMMUTABLE
    gone = get(f"{url}/simple/demo-app/{'0' * 64}.index.html")
    assert gone.status == 404 and gone.headers["Cache-Control"] == "no-store"


def test_gzip_static_and_on_the_fly(served) -> None:
    signed, url = served
    view = load_view(signed.storage)
    name = f"{view.snapshot.signed.version}.snapshot.json"
    plain = (signed.repo / "tuf" / name).read_bytes()
    # Pre-compressed sibling (what 'mirror sync' writes): served as is, with a length.
    static = gzip.compress(plain, mtime=0)
    (signed.repo / "tuf" / f"{name}.gz").write_bytes(static)
    response = get(f"{url}/tuf/{name}", **{"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.data == static
    assert response.headers["Content-Length"] == str(len(static))
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert "Accept-Encoding" in _vary(response)
    assert get(f"{url}/tuf/{name}").data == plain  # no gzip asked: none given

    # No sibling: compressed on the fly (JSON metadata and pages).
    for path in ("tuf/timestamp.json", "simple/demo-app/"):
        response = get(
            f"{url}/{path}",
            **{"Accept-Encoding": "gzip", "Accept": "application/vnd.pypi.simple.v1+json"},
        )
        assert response.headers["Content-Encoding"] == "gzip", path
        local = signed.repo / path
        expected = (local / "index.v1_json" if local.is_dir() else local).read_bytes()
        assert gzip.decompress(response.data) == expected


def test_unfinished_writes_are_not_served(served) -> None:
    signed, url = served
    (signed.repo / "tuf/.tuf-pypi-tmp-timestamp.json.1").write_text("{}")
    assert get(f"{url}/tuf/.tuf-pypi-tmp-timestamp.json.1").status == 404
    assert get(f"{url}/tuf/").status in (403, 404)  # no directory listings


def test_every_placeholder_is_filled_in() -> None:
    template = TEMPLATE.read_text()
    assert set(re.findall(r"@[A-Z_]+@", template)) == {"@ROOT@", "@LISTEN@", "@SERVER_NAME@"}
    assert not re.findall(r"@[A-Z_]+@", render_site(Path("/srv/mirror"), "80"))


def test_a_synced_mirror_behind_nginx(served, nginx, tmp_path) -> None:
    signed, upstream_url = served
    mirror = tmp_path / "mirror"
    trusted_root = (signed.repo / "tuf/1.root.json").read_bytes()
    sync_mirror(
        upstream_url,
        mirror,
        root=trusted_root,
        options=SyncOptions(state_dir=tmp_path / "state"),
        now=signed.clock(),
    )
    url = nginx(mirror)
    view = load_view(signed.storage)
    name = layout.metadata_filename("bin-0", view.version_of("bin-0"))
    response = get(f"{url}/tuf/{name}", **{"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.data == (mirror / "tuf" / f"{name}.gz").read_bytes()  # sync's sibling
    assert gzip.decompress(response.data) == (signed.repo / "tuf" / name).read_bytes()

    updater = ngclient(url, trusted_root, tmp_path / "ng")
    path = "simple/demo-lib/index.html"
    assert fetch_page(updater, path, tmp_path / "p") == (signed.repo / path).read_bytes()
    with Client([url], trusted_root, tmp_path / "client") as client:
        page = client.page("demo-lib", "html")
        for link in page.page.files:
            assert client.download(page, link, tmp_path / "dl").is_file()
    live = get(f"{url}/simple/demo-lib/", Accept=PIP_ACCEPT)
    assert live.data == signed.page("demo-lib", "index.v1_json").read_bytes()
