"""The proxy over HTTP, in this process: negotiation, redirects, HEAD, Range, failures,
concurrency, refresh. Installers are in test_installers.py."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tuf_pypi.client import (
    AllMirrorsFailedError,
    ClientError,
    InvalidPageError,
    MirrorFailure,
    NotListedError,
    RollbackError,
    SetupError,
    UnavailableError,
)
from tuf_pypi.pages import parse_html, parse_json
from tuf_pypi.proxy.app import describe_failure
from tuf_pypi.proxy.server import ProxyServer
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.mirror_server import MirrorServer, closed_port_url, replace
from tuf_pypi.testing.signed_index import Index

from .helpers import PIP_ACCEPT, PROJECT, file_url, page, request

JSON = "application/vnd.pypi.simple.v1+json"


# -- pages -----------------------------------------------------------------------------


def test_json_page_for_pip(server: ProxyServer, base_index: Index) -> None:
    answer = page(server)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == JSON
    assert answer.headers["Vary"] == "Accept"
    max_age = int(answer.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= 600
    served = parse_json(answer.body, "proxy")
    signed = parse_json(base_index.page_bytes(PROJECT), "index")
    assert [(f.filename, f.sha256, f.size) for f in served.files] == [
        (f.filename, f.sha256, f.size) for f in signed.files
    ]
    assert all(f.url.startswith("../../files/demo-core/") for f in served.files)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/html", "text/html; charset=utf-8"),
        (
            "application/vnd.pypi.simple.v1+html",
            "application/vnd.pypi.simple.v1+html; charset=utf-8",
        ),
        ("*/*", "text/html; charset=utf-8"),
    ],
)
def test_html_page(server: ProxyServer, accept: str, content_type: str) -> None:
    answer = page(server, "demo-lib", accept)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == content_type
    assert answer.headers["Vary"] == "Accept"
    links = parse_html(answer.body, "proxy").files
    assert [link.yanked for link in links] == [False, "broken release, use 1.0"]


def test_unsupported_accept_is_406(server: ProxyServer) -> None:
    answer = page(server, accept="application/json")
    assert answer.status == 406
    assert answer.headers["Vary"] == "Accept"
    assert b"application/vnd.pypi.simple.v1+json" in answer.body


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("simple/Demo_Core/", "/simple/demo-core/"),
        ("simple/demo-core", "/simple/demo-core/"),
        ("simple/DEMO.core", "/simple/demo-core/"),
        ("", "/simple/"),
    ],
)
def test_redirects(server: ProxyServer, path: str, location: str) -> None:
    answer = request(server.url.removesuffix("simple/") + path)
    assert answer.status == 301
    assert answer.headers["Location"] == location


def test_unknown_project_is_404(server: ProxyServer) -> None:
    answer = page(server, "no-such-project")
    assert answer.status == 404
    assert b"not listed" in answer.body


def test_root_index_and_other_paths(server: ProxyServer) -> None:
    root = request(server.url, headers={"Accept": PIP_ACCEPT})
    assert root.status == 200 and json.loads(root.body)["projects"] == []
    assert request(server.url.removesuffix("simple/") + "tuf/root.json").status == 404


def test_head_and_conditional_page(server: ProxyServer) -> None:
    full = page(server)
    head = request(f"{server.url}{PROJECT}/", "HEAD", {"Accept": PIP_ACCEPT})
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(full.body))
    assert head.headers["ETag"] == full.headers["ETag"]
    again = request(
        f"{server.url}{PROJECT}/",
        headers={"Accept": PIP_ACCEPT, "If-None-Match": full.headers["ETag"]},
    )
    assert again.status == 304 and again.body == b""


# -- files -----------------------------------------------------------------------------


def test_file_and_metadata(server: ProxyServer, base_index: Index) -> None:
    rel, wheel = base_index.wheel(PROJECT)
    url = file_url(server)
    answer = request(url)
    assert answer.status == 200 and answer.body == wheel
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert "immutable" in answer.headers["Cache-Control"]
    assert answer.headers["ETag"] == f'"{hashlib.sha256(wheel).hexdigest()}"'
    metadata = request(url + ".metadata")
    assert metadata.status == 200 and metadata.body == base_index.read(rel + ".metadata")
    assert request(url, headers={"If-None-Match": answer.headers["ETag"]}).status == 304


def test_head_file(server: ProxyServer, base_index: Index) -> None:
    _, wheel = base_index.wheel(PROJECT)
    answer = request(file_url(server), "HEAD")
    assert answer.status == 200 and answer.body == b""
    assert answer.headers["Content-Length"] == str(len(wheel))
    assert answer.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [("bytes=0-9", 0, 10), ("bytes=-22", -22, None), ("bytes=100-", 100, None)],
)
def test_range(server: ProxyServer, base_index: Index, header: str, start: int, stop: int) -> None:
    _, wheel = base_index.wheel(PROJECT)
    answer = request(file_url(server), headers={"Range": header})
    assert answer.status == 206
    part = wheel[start:stop]
    assert answer.body == part
    first = start % len(wheel)
    assert answer.headers["Content-Range"] == f"bytes {first}-{first + len(part) - 1}/{len(wheel)}"
    assert answer.headers["Content-Length"] == str(len(part))


def test_a_large_file_and_its_ranges_are_served_whole(base_index: Index, tmp_path: Path) -> None:
    """Small bodies go out with the head in one write, large ones by sendfile: both whole."""
    index = base_index.copy(tmp_path / "index")
    add_release(index.repo, SampleDist("demo-big", "1.0", data_size=3 * 1024 * 1024))
    index.publisher().publish()
    rel, wheel = index.wheel("demo-big")
    assert len(wheel) > 3 * 1024 * 1024
    mirror = MirrorServer(index.repo)
    try:
        with ProxyServer([mirror.url], index.root_bytes, tmp_path / "cache").start() as proxy:
            url = file_url(proxy, "demo-big")
            for _ in range(2):  # downloaded and verified, then served from the cache
                answer = request(url)
                assert answer.status == 200
                assert answer.headers["Content-Length"] == str(len(wheel))
                assert answer.body == wheel
            tail = request(url, headers={"Range": "bytes=-100000"})
            assert tail.status == 206 and tail.body == wheel[-100000:]
            large = request(url, headers={"Range": "bytes=1000-2000999"})
            assert large.status == 206 and large.body == wheel[1000:2001000]
            assert request(url, "HEAD").headers["Content-Length"] == str(len(wheel))
            metadata = request(url + ".metadata")
            assert metadata.body == index.read(rel + ".metadata")
    finally:
        mirror.stop()


@pytest.mark.parametrize("header", ["bytes=999999-", "bytes=5-2", "bytes=x-y"])
def test_bad_range_is_416(server: ProxyServer, base_index: Index, header: str) -> None:
    _, wheel = base_index.wheel(PROJECT)
    answer = request(file_url(server), headers={"Range": header})
    assert answer.status == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(wheel)}"


def test_range_ignored_when_if_range_does_not_match(server: ProxyServer, base_index: Index) -> None:
    _, wheel = base_index.wheel(PROJECT)
    answer = request(file_url(server), headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert answer.status == 200 and answer.body == wheel


def test_file_not_on_the_page_is_404(server: ProxyServer) -> None:
    url = file_url(server)
    assert request(url.replace("demo_core-1.0", "demo_core-6.6")).status == 404
    sha = url.split("/")[-2]
    assert request(url.replace(sha, "0" * 64)).status == 404


def test_concurrent_installers(base_index: Index, tmp_path: Path) -> None:
    """Many requests at once on a cold proxy: all right, and each file fetched once."""
    mirror = MirrorServer(base_index.repo)
    try:
        with ProxyServer([mirror.url], base_index.root_bytes, tmp_path / "cache").start() as proxy:
            projects = ["demo-core", "demo-lib", "demo-app", "demo-extra"] * 4
            with ThreadPoolExecutor(16) as pool:
                pages = list(pool.map(lambda p: page(proxy, p), projects))
                assert {answer.status for answer in pages} == {200}
                urls = [file_url(proxy, p) for p in projects]
                files = list(pool.map(request, urls + [u + ".metadata" for u in urls]))
            assert {answer.status for answer in files} == {200}
            for project, answer in zip(projects, files, strict=False):
                assert answer.body == base_index.wheel(project)[1]
            wheel, _ = base_index.wheel("demo-core")
            assert mirror.count(wheel) == 1
    finally:
        mirror.stop()


# -- failures --------------------------------------------------------------------------


def test_tampered_file_is_refused_with_the_reason(base_index: Index, tmp_path: Path) -> None:
    rel, wheel = base_index.wheel(PROJECT)
    bad = MirrorServer(base_index.repo)
    bad.hooks[rel] = replace(bytes(len(wheel)))
    try:
        with ProxyServer([bad.url], base_index.root_bytes, tmp_path / "cache").start() as proxy:
            answer = request(file_url(proxy))
            assert answer.status == 424
            assert answer.reason.startswith("TUF verification failed: downloading demo_core")
            assert answer.reason.endswith("[tampered]")
            assert answer.body.decode().strip() == answer.reason
            assert b"\0" not in answer.body
            metrics = request(proxy.url.removesuffix("simple/") + "metrics").body.decode()
            refused = (
                f'tuf_pypi_proxy_verification_failures_total{{kind="tampered",mirror="{bad.url}"}}'
            )
            assert f"{refused} 1" in metrics
            assert 'tuf_pypi_proxy_requests_total{route="file",status="424"} 1' in metrics
    finally:
        bad.stop()


def test_unreachable_mirrors_are_503(base_index: Index, tmp_path: Path) -> None:
    with ProxyServer(
        [closed_port_url()], base_index.root_bytes, tmp_path / "cache"
    ).start() as proxy:
        answer = page(proxy)
        assert answer.status == 503
        assert answer.reason.startswith("no mirror could be reached: refreshing")


def test_metadata_is_refreshed_on_the_interval(base_index: Index, tmp_path: Path) -> None:
    """A release published after the proxy started shows up once the interval is over."""
    index = base_index.copy(tmp_path / "index")
    mirror = MirrorServer(index.repo)
    try:
        proxy = ProxyServer([mirror.url], index.root_bytes, tmp_path / "cache", refresh_interval=60)
        with proxy.start():
            before = proxy.view()
            assert len(proxy.page(PROJECT).page.files) == 1
            add_release(index.repo, SampleDist("Demo_Core", "2.0"))
            index.publisher().publish()
            assert proxy.view() is before  # one view per interval, not one per request
            timestamp_requests = mirror.count("tuf/timestamp.json")
            before.started -= 61  # as if the interval were over
            answer = page(proxy)
            assert mirror.count("tuf/timestamp.json") == timestamp_requests + 1
            names = [f.filename for f in parse_json(answer.body, "proxy").files]
            assert names == ["demo_core-1.0-py3-none-any.whl", "demo_core-2.0-py3-none-any.whl"]
    finally:
        mirror.stop()


def test_a_failed_refresh_is_one_event(base_index: Index, tmp_path: Path) -> None:
    """Requests answered from one failed refresh (until the retry) count it once."""
    bad = MirrorServer(base_index.repo)
    bad.hooks["tuf/timestamp.json"] = replace(b"{}")
    try:
        with ProxyServer([bad.url], base_index.root_bytes, tmp_path / "cache").start() as proxy:
            answers = [page(proxy) for _ in range(3)]
            answers.append(
                request(f"{proxy.url.removesuffix('simple/')}files/demo-core/{'0' * 64}/x.whl")
            )
            assert {answer.status for answer in answers} == {424}
            assert answers[0].reason.startswith("TUF verification failed: refreshing")
            metrics = request(proxy.url.removesuffix("simple/") + "metrics").body.decode()
            assert 'tuf_pypi_proxy_refreshes_total{result="failed"} 1' in metrics
            refused = (
                f'tuf_pypi_proxy_verification_failures_total{{kind="tampered",mirror="{bad.url}"}}'
            )
            assert f"{refused} 1" in metrics
            assert 'tuf_pypi_proxy_requests_total{route="page",status="424"} 3' in metrics
    finally:
        bad.stop()


@pytest.mark.parametrize(
    ("error", "status", "start"),
    [
        (NotListedError("project 'x' is not listed"), 404, "project 'x'"),
        (InvalidPageError("simple/x/index.html: bad"), 424, "refused by TUF verification"),
        (SetupError("cache not writable"), 500, "proxy misconfigured"),
        (AllMirrorsFailedError("x", [MirrorFailure("m", UnavailableError("down"))]), 503, "no"),
        (
            AllMirrorsFailedError(
                "x",
                [
                    MirrorFailure("m1", UnavailableError("down")),
                    MirrorFailure("m2", RollbackError("old")),
                ],
            ),
            424,
            "TUF verification failed",
        ),
    ],
)
def test_describe_failure(error: ClientError, status: int, start: str) -> None:
    assert describe_failure(error)[0] == status
    assert describe_failure(error)[1].startswith(start)
