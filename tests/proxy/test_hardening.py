"""Attacks on the proxy from a mirror and from the local machine, over real sockets.

A mirror redirecting the proxy into its own URLs or to other services, an endless
``.metadata`` file, a cached file rewritten in place by another local user, a cache
directory someone else can write, control characters in the log, a connection flood,
a web page reaching the proxy through DNS rebinding, and names that would put a raw
newline into a ``Location`` header.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuf_pypi.client import SetupError
from tuf_pypi.proxy import ProxyServer
from tuf_pypi.testing.limits import FAST
from tuf_pypi.testing.mirror_server import MirrorServer, endless, redirect
from tuf_pypi.testing.signed_index import Index

from .helpers import PIP_ACCEPT, PROJECT, file_url, page, raw_exchange, request


@pytest.fixture
def bad(base_index: Index) -> Iterator[MirrorServer]:
    """A mirror of the sample index that a test makes misbehave."""
    server = MirrorServer(base_index.repo)
    yield server
    server.stop()


def _metrics(proxy: ProxyServer) -> str:
    return request(proxy.url.removesuffix("simple/") + "metrics").body.decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- item 4: redirects, and the proxy fetching from itself -------------------------------


def test_redirect_into_the_proxys_own_files_url_is_refused(
    base_index: Index, bad: MirrorServer, tmp_path: Path
) -> None:
    rel, _ = base_index.wheel(PROJECT)
    with ProxyServer([bad.url], base_index.root_bytes, tmp_path / "cache", limits=FAST) as proxy:
        proxy.start()
        url = file_url(proxy)
        bad.hooks[rel] = redirect(url)  # the mirror sends the proxy to itself
        started = time.monotonic()
        answer = request(url, timeout=15)
        assert time.monotonic() - started < FAST.read_timeout  # no waiting on itself
        assert answer.status == 503
        assert f"redirect to {url!r} refused" in answer.reason
        # The proxy never saw its own URL requested a second time.
        assert 'tuf_pypi_proxy_requests_total{route="file",status="503"} 1' in _metrics(proxy)
        assert 'route="file",status="508"' not in _metrics(proxy)


def test_the_proxy_never_serves_its_own_fetches(
    base_index: Index, bad: MirrorServer, tmp_path: Path
) -> None:
    # The proxy itself is the first mirror (a configuration mistake, or an index
    # whose links name the proxy): its own requests are refused, the next mirror serves.
    port = _free_port()
    own = f"http://127.0.0.1:{port}/"
    with ProxyServer(
        [own, bad.url], base_index.root_bytes, tmp_path / "cache", port=port, limits=FAST
    ) as proxy:
        proxy.start()
        assert page(proxy).status == 200
        assert request(file_url(proxy)).status == 200
        assert 'tuf_pypi_proxy_requests_total{route="refused",status="508"}' in _metrics(proxy)
        # Anything carrying the proxy's Via token is refused, whatever the path.
        answer = request(f"{own}files/x", headers={"Via": f"1.0 other, {proxy.via}"})
        assert answer.status == 508 and answer.reason.startswith("loop detected")


# -- item 5: an endless .metadata file ----------------------------------------------------


def test_endless_core_metadata_is_cut_off_and_never_cached(
    base_index: Index, bad: MirrorServer, tmp_path: Path
) -> None:
    rel, _ = base_index.wheel(PROJECT)
    bad.hooks[rel + ".metadata"] = endless()
    cache = tmp_path / "cache"
    with ProxyServer([bad.url], base_index.root_bytes, cache, limits=FAST) as proxy:
        proxy.start()
        answer = request(file_url(proxy) + ".metadata")
    assert answer.status == 424
    assert f"more than the configured maximum of {FAST.metadata_max_bytes} bytes" in (answer.reason)
    assert answer.reason.endswith("[too large]")
    deadline = time.monotonic() + 10
    while not bad.endless_sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bad.endless_sent[0] < FAST.metadata_max_bytes + (32 << 20)
    written = [p for p in (cache / "proxy" / "files").rglob("*") if p.is_file()]
    assert written == []


# -- item 7: the cache, against other local users ----------------------------------------


def test_a_cached_file_rewritten_in_place_is_verified_again(
    server: ProxyServer, base_index: Index
) -> None:
    url = file_url(server)
    _, wheel = base_index.wheel(PROJECT)
    assert request(url).body == wheel
    cached = server.cache_dir / "proxy" / "files" / url.rsplit("/", 2)[1]  # by its sha256
    before = cached.stat()
    time.sleep(0.05)  # let the clock behind ctime move on
    # Another local user rewrites it in place: same inode, same size, mtime put back.
    with cached.open("r+b") as f:
        f.write(b"EVIL")
    os.utime(cached, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = cached.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert request(url).body == wheel
    assert cached.read_bytes() == wheel  # verified again, and downloaded again


@pytest.mark.parametrize("where", ["proxy", "proxy/files"])
def test_a_file_cache_others_can_write_is_refused(
    base_index: Index, bad: MirrorServer, tmp_path: Path, where: str
) -> None:
    cache = tmp_path / "cache"
    ProxyServer([bad.url], base_index.root_bytes, cache).close()
    (cache / where).chmod(0o777)
    with pytest.raises(SetupError, match=r"writable by others \(mode 0777\)"):
        ProxyServer([bad.url], base_index.root_bytes, cache)


def test_a_cache_prepared_by_another_user_is_refused(
    base_index: Index, bad: MirrorServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)  # as another user would leave it in /tmp
    with pytest.raises(SetupError, match=f"cache directory {cache} is writable by others"):
        ProxyServer([bad.url], base_index.root_bytes, cache)


# -- item 10: the log -----------------------------------------------------------------


def test_control_characters_from_clients_are_escaped_in_the_log(
    server: ProxyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tuf_pypi.proxy")
    # A carriage return and a terminal escape in the request line would rewrite what
    # the operator sees; a malformed request line is logged by the error path too.
    raw_exchange(server, b"GET /simple/\r\x1b[2J\x1b[31mFORGED HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    raw_exchange(server, b"GET /\x07\x00\x9b HTTP/9.9\r\n\r\n")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "\\x0d\\x1b[2J\\x1b[31mFORGED" in text
    assert "\\x07\\x00\\x9b" in text
    assert not any(c in text for c in "\r\x1b\x07\x00\x9b")


# -- item 11: connections and the Host header ---------------------------------------------


def test_connections_beyond_the_cap_get_503(
    base_index: Index, bad: MirrorServer, tmp_path: Path
) -> None:
    with ProxyServer(
        [bad.url], base_index.root_bytes, tmp_path / "cache", max_connections=2
    ) as proxy:
        proxy.start()
        port = proxy.server_address[1]
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        try:
            answer = request(proxy.url)
            assert answer.status == 503
            assert answer.reason == "Too many connections to the proxy"
            assert answer.headers["Connection"] == "close"
            assert b"more than 2 connections" in answer.body
            assert "tuf_pypi_proxy_connections_refused_total 1" in proxy.app.registry.render()
        finally:
            idle.pop().close()
        # A slot is free again once a connection closes.
        deadline = time.monotonic() + 10
        while (status := request(proxy.url).status) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200
        idle[0].close()


def test_a_connection_flood_costs_a_bounded_number_of_threads(
    base_index: Index, bad: MirrorServer, tmp_path: Path
) -> None:
    cap = 3
    with ProxyServer(
        [bad.url], base_index.root_bytes, tmp_path / "cache", max_connections=cap
    ) as proxy:
        proxy.start()
        baseline = threading.active_count()
        port = proxy.server_address[1]
        flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        try:
            time.sleep(0.5)  # let the proxy accept them all
            # cap serving threads, and at most cap more answering 503; the rest closed.
            assert threading.active_count() - baseline <= 2 * cap
        finally:
            for conn in flood:
                conn.close()
        # The proxy still accepts the closed flood connections from its backlog; while
        # both caps are full it closes new ones without a word (by design), so a
        # closed connection counts as a 503 here.
        deadline = time.monotonic() + 10
        while (status := _status_or_none(proxy.url)) in (503, None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200  # and it serves again once the flood is gone


def _status_or_none(url: str) -> int | None:
    """The status of GET ``url``; None when the server closed the connection unanswered."""
    try:
        return request(url).status
    except ConnectionError:  # http.client.RemoteDisconnected is a ConnectionResetError
        return None


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:{port}", 200),
        ("localhost:{port}", 200),
        ("LOCALHOST", 200),
        ("[::1]:{port}", 200),
        ("10.1.2.3:{port}", 200),
        ("proxy.internal:{port}", 200),  # allowed by name
        ("rebound.attacker.example:{port}", 403),  # DNS rebinding: the browser sends its name
        ("localhost.attacker.example", 403),
        ("127.0.0.1.nip.io:{port}", 403),
        ("", 403),
        ("[::1:{port}", 403),
    ],
)
def test_host_header_is_checked(
    base_index: Index, bad: MirrorServer, tmp_path: Path, host: str, status: int
) -> None:
    with ProxyServer(
        [bad.url],
        base_index.root_bytes,
        tmp_path / "cache",
        allowed_hosts=["Proxy.Internal"],
    ) as proxy:
        proxy.start()
        header = host.format(port=proxy.server_address[1])
        answer = request(f"{proxy.url}{PROJECT}/", headers={"Host": header, "Accept": PIP_ACCEPT})
        assert answer.status == status, answer.reason
        if status == 403:
            assert "does not serve the host name" in answer.reason
            assert "--allow-host" in answer.reason


# -- item 8: no raw newline or non-ASCII name in a Location header -------------------------


@pytest.mark.parametrize(
    "path", ["foo%0A/", "foo%0A", "Foo%0D%0ALocation:%20http://evil/", "%C5%BFix/", "%C5%BFix"]
)
def test_bad_names_get_no_location_header(server: ProxyServer, path: str) -> None:
    answer = request(f"{server.url}{path}", headers={"Accept": PIP_ACCEPT})
    assert answer.status == 404
    assert "Location" not in answer.headers
    assert "is not a valid project name" in answer.reason
