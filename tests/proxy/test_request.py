"""The proxy's request-head parser (:mod:`tuf_pypi.proxy.request`): pure, then on a socket.

The proxy parses request heads itself (the email package cost a fifth of its CPU), so
each refusal ``http.server`` made, and the stricter ones RFC 9112 asks for, is tested
here: on the pure functions, and as a real client sees it on the wire.
"""

from __future__ import annotations

import pytest

from tuf_pypi.proxy.request import (
    MAX_HEADERS,
    MAX_LINE,
    BadRequest,
    parse_field,
    parse_request_line,
    read_headers,
)
from tuf_pypi.proxy.server import ProxyServer

from .helpers import raw_exchange


def _lines(data: bytes):  # type: ignore[no-untyped-def]
    """``readline(limit)`` over ``data``, as a buffered socket file gives it."""
    rest = [data]

    def readline(limit: int) -> bytes:
        end = rest[0].find(b"\n", 0, limit)
        cut = limit if end < 0 else end + 1
        line, rest[0] = rest[0][:cut], rest[0][cut:]
        return line

    return readline


# -- pure -------------------------------------------------------------------------------


def test_a_request_line_gives_command_path_and_version() -> None:
    head = parse_request_line(b"GET /simple/demo-core/ HTTP/1.1")
    assert (head.command, head.path, head.version) == ("GET", "/simple/demo-core/", "HTTP/1.1")
    assert head.keeps_alive_by_default
    assert not parse_request_line(b"HEAD /x HTTP/1.0").keeps_alive_by_default


def test_a_path_starting_with_two_slashes_is_reduced_to_one() -> None:
    # "//evil.example/..." would be a URL to a client reading a Location header.
    assert parse_request_line(b"GET //evil.example/x HTTP/1.1").path == "/evil.example/x"


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET /", 400),  # HTTP/0.9
        (b"GET  /x HTTP/1.1", 400),  # two spaces
        (b"GET /x\rFORGED HTTP/1.1", 400),  # a carriage return in the target
        (b"GET /x\x1b[2J HTTP/1.1", 400),  # a terminal escape in the target
        (b"GET /x\x00 HTTP/1.1", 400),
        (b"GET /x y HTTP/1.1", 400),
        (b"G(T /x HTTP/1.1", 400),  # not a token
        (b"GET /x HTTP/1.2", 400),
        (b"GET /x HTTPS/1.1", 400),
        (b"GET /x HTTP/2.0", 505),
        (b"GET /x HTTP/3", 505),
        (b"", 400),
    ],
)
def test_bad_request_lines_are_refused(line: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request_line(line)
    assert caught.value.status == status


def test_field_names_are_case_insensitive_and_values_trimmed() -> None:
    assert parse_field(b"ACCEPT: \t text/html \t") == ("accept", "text/html")
    headers = read_headers(_lines(b'Host: a\r\nIf-None-Match: "x"\r\nVia: 1\r\nvia: 2\r\n\r\n'))
    assert headers.get("HOST") == "a"
    assert headers.get("if-none-match") == '"x"'
    assert headers.get("Via") == "1"  # the first of repeated fields, as email.message does
    assert headers.get("Range") is None
    assert headers.get("Range", "none") == "none"


@pytest.mark.parametrize(
    "line",
    [
        b"Host : a",  # white space before the colon (request smuggling)
        b" folded continuation",  # obsolete line folding
        b"\tfolded",
        b"no colon at all",
        b": no name",
        b"Na(me: x",
        b"X: a\x00b",
        b"X: a\rb",
    ],
)
def test_bad_field_lines_are_refused(line: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_field(line)
    assert caught.value.status == 400


def test_two_host_fields_are_refused() -> None:
    with pytest.raises(BadRequest, match="more than one Host"):
        read_headers(_lines(b"Host: a\r\nhost: b\r\n\r\n"))


def test_too_many_or_too_long_field_lines_are_refused() -> None:
    many = b"".join(b"X-%d: y\r\n" % n for n in range(MAX_HEADERS + 1)) + b"\r\n"
    with pytest.raises(BadRequest) as caught:
        read_headers(_lines(many))
    assert caught.value.status == 431
    assert len(read_headers(_lines(many[many.index(b"X-1:") :]))) == MAX_HEADERS
    long = b"X: " + b"y" * MAX_LINE + b"\r\n\r\n"
    with pytest.raises(BadRequest) as caught:
        read_headers(_lines(long))
    assert caught.value.status == 431


def test_the_end_of_the_stream_ends_the_head() -> None:
    assert read_headers(_lines(b"Host: a\r\n")).get("Host") == "a"


# -- on the wire ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /simple/ HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n", b"400"),
        (b"GET /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n", b"400"),
        (b"GET /simple/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", b"400"),
        (b"GET /simple/ HTTP/2.0\r\n\r\n", b"505"),
        (b"GET /simple/\r\n\r\n", b"400"),
        (b"GET /simple/ HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", b"431"),
    ],
)
def test_refused_heads_get_a_status_line_and_the_connection_closes(
    server: ProxyServer, head: bytes, status: bytes
) -> None:
    answer = raw_exchange(server, head + b"GET /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.")
    assert answer.split(b" ", 2)[1] == status
    assert answer.count(b"HTTP/1.") == 1  # the request after a refused one is not served


def test_connections_stay_open_as_http_1_1_and_1_0_say(server: ProxyServer) -> None:
    get = b"GET /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    assert raw_exchange(server, get + b"\r\n" + get + b"\r\n").count(b"HTTP/1.1 200") == 2
    closing = get + b"Connection: close\r\n\r\n" + get + b"\r\n"
    assert raw_exchange(server, closing).count(b"HTTP/1.1 200") == 1
    old = b"GET /simple/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    assert raw_exchange(server, old + old).count(b" 200 ") == 1
    kept = b"GET /simple/ HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: Keep-Alive\r\n\r\n"
    assert raw_exchange(server, kept + old).count(b" 200 ") == 2
