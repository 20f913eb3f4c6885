"""The head of an HTTP/1.x request (request line and header fields), parsed strictly and cheaply.

``http.server`` parses header fields with the email package (``http.client.parse_headers``,
made for MIME messages: a feed parser, policies, a message object per request): about
45 µs for uv's request head, against 12 µs here. Small, but the proxy is CPU-bound
while an installer's burst of parallel requests waits on it (docs/performance.md).
More to the point, the proxy serves only GET and HEAD, never reads a request body, and
looks at a handful of fields by name, so it can be stricter than the email parser
(RFC 9112 allows, and for some cases requires, refusing what this refuses):

* the request line is ``METHOD SP TARGET SP HTTP/1.0`` or ``HTTP/1.1``: no HTTP/0.9, no
  HTTP/2 or later over this text protocol, no white space inside the target (a
  carriage return there would let a client forge a line of the proxy's log);
* a field line is ``name: value``, the name an RFC 9110 token with no white space
  before the colon (§5.1: must be refused, it is how requests are smuggled), no
  obsolete line folding, no NUL, carriage return or line feed in the value;
* at most :data:`MAX_HEADERS` field lines of at most :data:`MAX_LINE` bytes each, as
  ``http.server`` allows; the reading is bounded by the caller (:mod:`.server`);
* ``Host`` at most once (RFC 9112 §3.2: a request with two is refused).

Everything here is pure: the server reads the lines and hands them in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE",
    "BadRequest",
    "RequestHead",
    "RequestHeaders",
    "parse_field",
    "parse_request_line",
    "read_headers",
]

#: Longest request line or field line read, as ``http.server`` and ``http.client`` allow.
MAX_LINE = 65536
#: Most field lines in one request (``http.client``'s limit).
MAX_HEADERS = 100

_VERSIONS = {"HTTP/1.0": (1, 0), "HTTP/1.1": (1, 1)}
# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A request target is visible ASCII (RFC 9112 §3.2): no space, control or DEL.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")
# What may not appear in a field value (RFC 9110 §5.5): NUL, CR, LF.
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


class BadRequest(Exception):
    """A request head the proxy refuses; ``status`` is the answer (400, 431 or 505)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class RequestHead:
    """The request line: what :class:`http.server.BaseHTTPRequestHandler` keeps of it."""

    command: str
    path: str
    version: str

    @property
    def keeps_alive_by_default(self) -> bool:
        """HTTP/1.1 connections stay open unless the client says ``close``; 1.0 ones close."""
        return self.version == "HTTP/1.1"


class RequestHeaders:
    """Header fields by name, case-insensitively: the ``get`` the proxy's app needs.

    Repeated fields keep the first value, as ``email.message.Message.get`` does (the
    app reads only fields that are single by definition, or lists it splits itself).
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, str] | None = None) -> None:
        self._fields = fields if fields is not None else {}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def add(self, name: str, value: str) -> None:
        """Record one field line (names already lower case); ``Host`` may not repeat."""
        if name in self._fields:
            if name == "host":
                raise BadRequest(400, "more than one Host header field")
            return
        self._fields[name] = value

    def __len__(self) -> int:
        return len(self._fields)


def parse_request_line(line: bytes) -> RequestHead:
    """The request line (without its CRLF) as command, target and version; or BadRequest."""
    words = line.split(b" ")
    if len(words) != 3 or not all(words):
        raise BadRequest(400, f"bad request line {_shown(line)}")
    command, path, version = (word.decode("iso-8859-1") for word in words)
    if not _TOKEN.fullmatch(words[0]) or _BAD_TARGET.search(path):
        raise BadRequest(400, f"bad request line {_shown(line)}")
    if version not in _VERSIONS:
        if version.startswith("HTTP/") and version[5:6].isdigit() and version[5] != "1":
            raise BadRequest(505, f"HTTP version {version[5:]} is not supported")
        raise BadRequest(400, f"bad request version {_shown(words[2])}")
    if path.startswith("//"):
        # As http.server does (gh-87389): "//host/..." is a URL without a scheme to
        # clients, so a path starting with it must never reach a Location header.
        path = "/" + path.lstrip("/")
    return RequestHead(command, path, version)


def parse_field(line: bytes) -> tuple[str, str]:
    """One field line (without its CRLF): the lower-case name and the value; or BadRequest."""
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        # No colon, white space before it, or a line starting with white space
        # (obsolete folding): RFC 9112 §5.1-5.2 has servers refuse all three.
        raise BadRequest(400, f"bad header field line {_shown(line)}")
    value = value.strip(b" \t")
    if _BAD_VALUE.search(value):
        raise BadRequest(400, f"bad value in header field {_shown(name)}")
    return name.decode("ascii").lower(), value.decode("iso-8859-1")


def read_headers(readline: Callable[[int], bytes]) -> RequestHeaders:
    """The field lines after a request line, up to the empty line, from ``readline(limit)``.

    Bounded: at most :data:`MAX_HEADERS` lines of at most :data:`MAX_LINE` bytes (431
    beyond). The end of the stream ends the head, as it does for ``http.server``.
    """
    headers = RequestHeaders()
    for _ in range(MAX_HEADERS + 1):
        line = readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise BadRequest(431, f"a header field line is longer than {MAX_LINE} bytes")
        line = line.rstrip(b"\r\n")
        if not line:
            return headers
        headers.add(*parse_field(line))
    raise BadRequest(431, f"more than {MAX_HEADERS} header field lines")


def _shown(data: bytes) -> str:
    """``data`` for an error reason: printable, bounded (the reason phrase is escaped again)."""
    text = repr(data[:200])[1:]
    return text + ("..." if len(data) > 200 else "")
