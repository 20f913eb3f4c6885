"""The HTTP transport under BoundedFetcher: TLS trust, proxies, framing, keep-alive, timeouts.

These pin what the fetcher's HTTP client must do, through the fetcher's public API
only, so that they hold for whichever client is underneath (:mod:`tuf_pypi.client.transport`;
they were written against urllib3 first and pass on both, where urllib3 could). Each case
is a real request over loopback to a server from tuf_pypi.testing that writes its
answers byte by byte (:mod:`.raw_http`), a forward proxy that records what it was asked
(:mod:`.forward_proxy`), and a throwaway CA (:mod:`.tls`). Size limits, gzip, rate
limits and redirects are tested through the client in test_limits.py and
test_redirects.py; this module is about the bytes on the wire.

Trust and proxies come from the environment, read when a fetcher is made (urllib3
read ``SSL_CERT_FILE`` only when it connected; the transport builds its TLS context
once), so each test sets the variables first, then makes its fetcher.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tuf.api.exceptions import DownloadError, SlowRetrievalError

from tuf_pypi.client import Limits
from tuf_pypi.client.fetcher import BoundedFetcher
from tuf_pypi.testing.forward_proxy import ForwardProxy
from tuf_pypi.testing.limits import FAST
from tuf_pypi.testing.mirror_server import closed_port_url
from tuf_pypi.testing.raw_http import RawConnection, RawServer, Script, answer, response
from tuf_pypi.testing.tls import LocalCA

#: Silence fails after half a second.
SILENCE = Limits(connect_timeout=2.0, read_timeout=0.5)
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

StartServer = Callable[..., RawServer]
MakeFetcher = Callable[..., BoundedFetcher]


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.create()


@pytest.fixture
def ca_file(ca: LocalCA, tmp_path: Path) -> Path:
    return ca.write(tmp_path / "ca.pem")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy but those a test sets, and only the platform's trust store (a developer's
    or CI host's SSL_CERT_FILE and SSL_CERT_DIR would replace it).

    tests/client's autouse ``no_proxy`` (loopback bypasses any proxy) may be set before
    or after this; proxy tests replace every proxy variable with :func:`use_proxies`.
    """
    use_proxies(monkeypatch)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def serve() -> Iterator[StartServer]:
    """Start a RawServer running a script (over TLS with ``tls=``); stopped after the test."""
    servers: list[RawServer] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(script, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    server = ForwardProxy()
    yield server
    server.stop()


@pytest.fixture
def auth_proxy() -> Iterator[ForwardProxy]:
    """A proxy answering 407 unless given these credentials (with reserved characters)."""
    server = ForwardProxy(credentials=("user", "p@ss word"))
    yield server
    server.stop()


@pytest.fixture
def fetcher() -> Iterator[MakeFetcher]:
    """Make a fetcher (after the test has set the environment); closed after the test."""
    made: list[BoundedFetcher] = []

    def make(limits: Limits = FAST) -> BoundedFetcher:
        made.append(BoundedFetcher(limits))
        return made[-1]

    yield make
    for each in made:
        each.close()


def get(fetcher: BoundedFetcher, url: str) -> bytes:
    """The whole body, as served (no decoding)."""
    return b"".join(fetcher.stream(url))


def trust(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))


def use_proxies(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Set exactly these proxy variables (lower-case names), clearing every other."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def assert_failed_fast(excinfo: pytest.ExceptionInfo[DownloadError], started: float) -> None:
    """A refusal of what was received, not a timeout waiting for more."""
    assert not isinstance(excinfo.value, SlowRetrievalError), excinfo.value
    assert time.monotonic() - started < FAST.read_timeout


# -- TLS ------------------------------------------------------------------------------------


def test_https_with_a_ca_trusted_through_ssl_cert_file(
    serve: StartServer,
    fetcher: MakeFetcher,
    ca: LocalCA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = serve(answer(then=response(b"over tls")), tls=ca.server_context("127.0.0.1"))
    trust(monkeypatch, ca_file)
    assert get(fetcher(), server.url) == b"over tls"
    assert b"".join(fetcher().fetch(server.url + "x")) == b"over tls"  # FetcherInterface
    assert [r.line for r in server.requests] == ["GET / HTTP/1.1", "GET /x HTTP/1.1"]


def test_https_with_an_untrusted_ca_fails(
    serve: StartServer, fetcher: MakeFetcher, ca: LocalCA
) -> None:
    server = serve(answer(then=response(b"over tls")), tls=ca.server_context("127.0.0.1"))
    started = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        get(fetcher(), server.url)
    assert_failed_fast(excinfo, started)
    assert server.requests == []  # nothing was sent over the unverified connection


def test_https_with_a_certificate_for_another_host_fails(
    serve: StartServer,
    fetcher: MakeFetcher,
    ca: LocalCA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Signed by the trusted CA, but for another name than the URL's host.
    server = serve(answer(then=response(b"over tls")), tls=ca.server_context("other.example"))
    trust(monkeypatch, ca_file)
    started = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        get(fetcher(), server.url)
    assert_failed_fast(excinfo, started)
    assert server.requests == []


# -- proxies --------------------------------------------------------------------------------


def test_http_url_goes_through_http_proxy_in_absolute_form(
    serve: StartServer, fetcher: MakeFetcher, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(answer(then=response(b"proxied")))
    use_proxies(monkeypatch, http_proxy=proxy.url)
    url = server.url + "simple/demo/?q=1"
    assert get(fetcher(), url) == b"proxied"
    assert [(r.method, r.target) for r in proxy.requests] == [("GET", url)]
    assert [r.target for r in server.requests] == ["/simple/demo/?q=1"]


def test_https_url_goes_through_a_connect_tunnel(
    serve: StartServer,
    fetcher: MakeFetcher,
    proxy: ForwardProxy,
    ca: LocalCA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = serve(answer(then=response(b"tunnelled")), tls=ca.server_context("127.0.0.1"))
    trust(monkeypatch, ca_file)
    use_proxies(monkeypatch, https_proxy=proxy.url)
    assert get(fetcher(), server.url + "tuf/1.root.json") == b"tunnelled"
    # The proxy saw the tunnel and nothing inside it; the server, which only this CA's
    # trust admits, decrypted the request itself: TLS was end to end.
    assert [r.line.split(" ")[:2] for r in proxy.requests] == [
        ["CONNECT", f"127.0.0.1:{server.port}"]
    ]
    assert [r.target for r in server.requests] == ["/tuf/1.root.json"]


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_no_proxy_covering_the_host_bypasses_the_proxy(
    serve: StartServer,
    fetcher: MakeFetcher,
    proxy: ForwardProxy,
    ca: LocalCA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tls: bool,
) -> None:
    server = serve(
        answer(then=response(b"direct")), tls=ca.server_context("127.0.0.1") if tls else None
    )
    trust(monkeypatch, ca_file)
    use_proxies(
        monkeypatch, http_proxy=proxy.url, https_proxy=proxy.url, no_proxy="example.org,127.0.0.1"
    )
    assert get(fetcher(), server.url) == b"direct"
    assert proxy.requests == []
    assert proxy.accepted == 0


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_proxy_credentials_in_the_proxy_url_are_sent_as_basic_auth(
    serve: StartServer,
    fetcher: MakeFetcher,
    auth_proxy: ForwardProxy,
    ca: LocalCA,
    ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tls: bool,
) -> None:
    server = serve(answer(then=response(b"ok")), ca.server_context("127.0.0.1") if tls else None)
    trust(monkeypatch, ca_file)
    # Reserved characters in the password are percent-encoded in the URL.
    url = auth_proxy.url_with("user", "p%40ss%20word")
    use_proxies(monkeypatch, http_proxy=url, https_proxy=url)
    assert get(fetcher(), server.url) == b"ok"
    token = base64.b64encode(b"user:p@ss word").decode()
    assert [r.headers.get("proxy-authorization") for r in auth_proxy.requests] == [f"Basic {token}"]


# -- body framing ----------------------------------------------------------------------------


def test_chunked_body_with_extensions_and_trailers(
    serve: StartServer, fetcher: MakeFetcher
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"1;flag\r\n \r\n"
        b"A\r\n0123456789\r\n"  # hex, upper case
        b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    )
    server = serve(answer(chunked, then=response(b"next")))
    client = fetcher()
    assert get(client, server.url) == b"hello 0123456789"
    # The trailers were consumed to their end: the connection is reused for the next.
    assert get(client, server.url) == b"next"
    assert server.accepted == 1


def test_chunked_body_through_download_bytes(serve: StartServer, fetcher: MakeFetcher) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (b"a" * 1000, b"b" * 70000, b"c"))
    server = serve(
        answer(
            then=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        )
    )
    data = fetcher().download_bytes(server.url, 100_000)
    assert data == b"a" * 1000 + b"b" * 70000 + b"c"


def _close_delimited(conn: RawConnection) -> None:
    """No Content-Length: the body is everything until the connection closes."""
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    for piece in (b"first ", b"second " * 20000, b"last"):
        conn.send(piece)
    conn.close()


def test_body_without_length_is_read_to_the_end_of_the_stream(
    serve: StartServer, fetcher: MakeFetcher
) -> None:
    server = serve(_close_delimited)
    assert get(fetcher(), server.url) == b"first " + b"second " * 20000 + b"last"


def test_bytes_beyond_content_length_are_not_part_of_the_body(
    serve: StartServer, fetcher: MakeFetcher
) -> None:
    # The excess is a whole answer of its own, as in a response-splitting attack.
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + response(b"poisoned")
    server = serve(answer(short, then=response(b"second")))
    client = fetcher()
    assert get(client, server.url) == b"hello"
    # Nor are they taken for the answer to the next request (RFC 9112 §6.3: a client
    # MUST NOT process such extra data as a separate response): the connection they
    # came on is not used again, and the next request gets the server's first answer
    # again, on a connection of its own.
    assert get(client, server.url) == b"hello"
    assert server.accepted == 2


def _cut_off(conn: RawConnection) -> None:
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
    conn.close()


def _conflicting_lengths(conn: RawConnection) -> None:
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello12")
    conn.hold()


def _malformed_chunk_size(conn: RawConnection) -> None:
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n")
    conn.hold()


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(_cut_off, id="cut-off-before-content-length"),
        pytest.param(_malformed_chunk_size, id="malformed-chunk-size"),
        # Two framings of one body: where it ends is ambiguous (request smuggling).
        pytest.param(_conflicting_lengths, id="conflicting-content-lengths"),
    ],
)
def test_broken_body_framing_is_an_error(
    serve: StartServer, fetcher: MakeFetcher, script: Script
) -> None:
    server = serve(script)
    started = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        get(fetcher(), server.url)
    assert_failed_fast(excinfo, started)


@pytest.mark.parametrize(
    "interim",
    [
        pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n", id="100-continue"),
        pytest.param(
            b"HTTP/1.1 103 Early Hints\r\nLink: </simple/>; rel=preload\r\n\r\n",
            id="103-early-hints",
        ),
    ],
)
def test_interim_answer_before_the_real_one_is_skipped(
    serve: StartServer, fetcher: MakeFetcher, interim: bytes
) -> None:
    # RFC 9110 §15.2: a client must parse and skip 1xx answers it did not ask for.
    server = serve(answer(then=interim + response(b"real answer")))
    assert get(fetcher(), server.url) == b"real answer"


def test_an_endless_stream_of_interim_answers_is_an_error(
    serve: StartServer, fetcher: MakeFetcher
) -> None:
    # A server that never gets to its answer must not keep the client reading forever.
    server = serve(answer(then=b"HTTP/1.1 100 Continue\r\n\r\n" * 50 + response(b"late")))
    started = time.monotonic()
    with pytest.raises(DownloadError, match="interim") as excinfo:
        get(fetcher(), server.url)
    assert_failed_fast(excinfo, started)


@pytest.mark.parametrize(
    "status_line",
    [
        pytest.param(b"HTTP/1.1 OK", id="no-code"),
        pytest.param(b"HTTP/1.1 2000 OK", id="four-digit-code"),
        pytest.param(b"HTTP/1.1 20 OK", id="two-digit-code"),
        pytest.param(b"<html>hello</html>", id="not-http"),
    ],
)
def test_malformed_status_line_is_an_error(
    serve: StartServer, fetcher: MakeFetcher, status_line: bytes
) -> None:
    server = serve(answer(then=status_line + b"\r\nContent-Length: 2\r\n\r\nok"))
    started = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        get(fetcher(), server.url)
    assert_failed_fast(excinfo, started)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(b"".join(b"X-Field-%d: v\r\n" % i for i in range(100)), id="101-lines"),
        pytest.param(b"X-Long: " + b"v" * (64 * 1024 + 1) + b"\r\n", id="line-over-64-KiB"),
    ],
)
def test_oversized_header_section_is_an_error_not_a_hang(
    serve: StartServer, fetcher: MakeFetcher, fields: bytes
) -> None:
    # A complete answer that a client without those limits would accept, then silence:
    # a client must refuse it as soon as a limit is passed.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + fields + b"\r\nok"
    server = serve(answer(head))
    started = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        get(fetcher(), server.url)
    assert_failed_fast(excinfo, started)


# -- keep-alive ------------------------------------------------------------------------------


def test_requests_in_a_row_reuse_one_connection(serve: StartServer, fetcher: MakeFetcher) -> None:
    server = serve(answer(then=response(b"same connection")))
    client = fetcher()
    assert [get(client, server.url) for _ in range(3)] == [b"same connection"] * 3
    assert server.accepted == 1
    assert len(server.requests) == 3


def test_idle_connection_closed_by_the_server_is_replaced_once(
    serve: StartServer, fetcher: MakeFetcher
) -> None:
    closed = threading.Event()

    def answer_then_close(conn: RawConnection) -> None:
        conn.read_request()
        conn.send(response(b"keep-alive, or so it said"))
        conn.close()
        closed.set()

    server = serve(answer_then_close)
    client = fetcher()
    assert get(client, server.url) == b"keep-alive, or so it said"
    assert closed.wait(5)
    closed.clear()
    assert get(client, server.url) == b"keep-alive, or so it said"
    assert server.accepted == 2


# -- timeouts and refusals -------------------------------------------------------------------


def _silent(conn: RawConnection) -> None:
    conn.read_request()
    conn.hold()


def _silent_mid_body(conn: RawConnection) -> None:
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    conn.hold()


def _trickled_head(conn: RawConnection) -> None:
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\n")
    for n in range(100):  # a field line every 0.1 s: never silent for a read timeout
        conn.send(b"X-%d: y\r\n" % n)
        time.sleep(0.1)
    conn.hold()


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(_silent, id="no-answer"),
        pytest.param(_silent_mid_body, id="silent-mid-body"),
        pytest.param(_trickled_head, id="trickled-head"),
    ],
)
def test_silence_fails_after_the_read_timeout(
    serve: StartServer, fetcher: MakeFetcher, script: Script
) -> None:
    server = serve(script)
    started = time.monotonic()
    with pytest.raises(SlowRetrievalError):
        get(fetcher(SILENCE), server.url)
    elapsed = time.monotonic() - started
    assert SILENCE.read_timeout * 0.9 <= elapsed < SILENCE.read_timeout + 1.0
    assert server.accepted == 1  # a timed-out read is not retried
    assert len(server.requests) == 1


def test_refused_connection_is_a_download_error_not_a_timeout(fetcher: MakeFetcher) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadError) as excinfo:
        get(fetcher(SILENCE), closed_port_url())
    assert not isinstance(excinfo.value, SlowRetrievalError)
    assert time.monotonic() - started < SILENCE.connect_timeout
