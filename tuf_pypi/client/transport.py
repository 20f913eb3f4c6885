"""HTTP/1.1 GET over pooled keep-alive connections: the transport of :mod:`.fetcher`.

Why not urllib3: a verifying proxy makes one upstream request for every request an
installer sends it, and on a cold start it is CPU-bound while uv's burst of parallel
requests waits on it. urllib3 spent about 0.37 ms of CPU on each loopback GET (its
pool manager, retry and timeout objects, URL normalisation, then ``http.client``'s
email-based header parser), a fifth of what the proxy spends per request; this
module spends about 0.06 ms (``scripts/bench/uv_phases.py``, docs/performance.md).
The fetcher only ever sends a GET and reads the answer as a stream, so that is all
this does; the policies (redirects within an origin, the minimum rate, gzip, sizes)
stay in :mod:`.fetcher`.

What it does:

* ``http`` and ``https`` (``ssl.create_default_context()``: the system's CAs, or
  ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, host names checked), IPv4 and IPv6;
* proxies from the environment (``http_proxy``, ``https_proxy``, ``no_proxy``, as
  ``urllib.request`` reads them): ``http://`` URLs in absolute form through the proxy,
  ``https://`` ones through a ``CONNECT`` tunnel with TLS end to end; credentials in the
  proxy URL go as ``Proxy-Authorization: Basic``. A proxy reached over TLS itself
  (an ``https://`` proxy URL) is refused with a message saying so;
* answers framed by ``Transfer-Encoding: chunked``, ``Content-Length``, or the end of
  the connection (RFC 9112 §6.3); ``1xx`` answers are skipped. An answer carrying both
  framings, or differing lengths, is read by its chunks and its connection is never
  reused (that is how responses are smuggled);
* keep-alive: connections whose answer was read to the end go back to a per-origin pool.
  A request sent on a pooled connection that the server had closed while idle (no
  byte of an answer came back) is sent once more on a new connection; nothing else is
  ever retried (a timeout means "too slow": the caller fails over instead);
* bounded reading: status and field lines of at most :data:`MAX_LINE` bytes, at most
  :data:`MAX_HEADERS` of them, chunk-size lines too; at most 8 interim answers; and the
  whole head within one read timeout (a server trickling header lines forever is too
  slow, as one trickling its body is for the fetcher).

Errors are python-tuf's, as ``FetcherInterface`` requires: ``SlowRetrievalError`` for a
timeout, ``DownloadError`` for everything else, each naming the URL.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urlsplit

from tuf.api.exceptions import DownloadError, SlowRetrievalError

__all__ = ["MAX_HEADERS", "MAX_LINE", "Headers", "Response", "Transport"]

#: Longest status, field or chunk-size line read (``http.client``'s limit).
MAX_LINE = 65536
#: Most field lines in one answer (``http.client``'s limit).
MAX_HEADERS = 100

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What may stay as is in a request target; anything else is percent-encoded (UTF-8),
# as urllib3 did: a link with a space or a non-ASCII letter still makes a valid request.
_TARGET_SAFE = "/:@!$&'()*+,;=-._~?%"
_NO_BODY_STATUSES = frozenset({204, 304})
# Interim (1xx) answers skipped before the real one: a few are normal (100, 103), an
# endless stream of them is a server keeping the client busy.
_MAX_INTERIM = 8


class Headers(dict[str, str]):
    """An answer's header fields: lower-case names to the first value; any case looks up."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class _Malformed(Exception):
    """The peer broke HTTP/1.1: raised inside this module, reported as DownloadError."""


class _Stale(Exception):
    """A pooled connection the server had closed: nothing of an answer arrived."""


@dataclass(frozen=True)
class _Origin:
    """Where a connection goes: the origin, and the proxy in between (if any)."""

    scheme: str
    host: str
    port: int
    proxy: SplitResult | None

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


class _Connection:
    """One socket (TLS or not) and the bytes received on it but not read yet.

    Its own small buffer rather than ``socket.makefile``: cheaper, and it can tell
    whether bytes are left over after an answer, which must never be taken for the
    next answer (a connection with leftovers is closed, not pooled).
    """

    _RECV = 65536

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def readline(self, deadline: float | None = None) -> bytes:
        """One line with its ``\\n`` (or what came before the end of the stream).

        ``deadline`` (a ``time.monotonic()`` value) bounds the whole wait, not just each
        read: a server trickling a byte now and then never trips the read timeout.
        """
        while True:
            end = self._buffer.find(b"\n", 0, MAX_LINE)
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if len(self._buffer) >= MAX_LINE:
                raise _Malformed(f"a line longer than {MAX_LINE} bytes")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the answer's head did not arrive within the read timeout")
            data = self.sock.recv(self._RECV)
            if not data:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += data

    def read1(self, size: int) -> bytes:
        """Up to ``size`` bytes: what is buffered, else one ``recv``; ``b""`` at the end."""
        if not self._buffer:
            return self.sock.recv(size)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_exactly(self, size: int) -> bytes:
        """``size`` bytes, or fewer if the stream ended first."""
        data = b""
        while len(data) < size and (more := self.read1(size - len(data))):
            data += more
        return data

    @property
    def leftover(self) -> bool:
        """True when bytes were received that no read asked for yet."""
        return bool(self._buffer) or (
            isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
        )

    @property
    def idle_clean(self) -> bool:
        """True when nothing is buffered and nothing waits on the socket (no bytes, no
        end of stream): safe to send the next request on it."""
        if self.leftover:
            return False
        poller = select.poll()  # not select(): a busy proxy has descriptors above 1024
        try:
            poller.register(self.sock, select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Response:
    """An answer's status, fields and body; read with :meth:`read1`, then :meth:`release`.

    ``headers`` maps names (any case) to the first value given. The body yields the
    bytes as served (no content decoding). Reading it to the end and calling
    :meth:`release` returns the connection to the pool; :meth:`close` drops it.
    """

    def __init__(
        self,
        url: str,
        status: int,
        headers: Headers,
        conn: _Connection,
        pool: _Pool,
        origin: _Origin,
        framing: _Framing,
    ) -> None:
        self.url = url
        self.status = status
        self.headers = headers
        self._conn: _Connection | None = conn
        self._pool = pool
        self._origin = origin
        self._framing = framing

    def read1(self, size: int) -> bytes:
        """Up to ``size`` bytes of the body, as soon as some arrived; ``b""`` at its end."""
        conn = self._conn
        if conn is None or self._framing.done:
            return b""
        try:
            return self._framing.read1(conn, size)
        except TimeoutError as exc:
            self.close()
            raise SlowRetrievalError(f"{self.url}: no data within the read timeout") from exc
        except (OSError, _Malformed) as exc:
            self.close()
            raise DownloadError(f"{self.url}: {exc or type(exc).__name__}") from exc

    @property
    def complete(self) -> bool:
        """True once the whole body was read."""
        return self._framing.done

    def release(self) -> None:
        """Done with the answer: its connection is pooled if the body was read to the end."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._framing.done and self._framing.reusable and not conn.leftover:
            self._pool.put(self._origin, conn)
        else:
            conn.close()

    def close(self) -> None:
        """Drop the connection, whatever was read."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class _Framing:
    """How an answer's body ends (RFC 9112 §6.3): a length, chunks, or the connection."""

    def __init__(self, length: int | None, chunked: bool, reusable: bool) -> None:
        self.remaining = length  # of the body, or of the current chunk when chunked
        self.chunked = chunked
        self.reusable = reusable and (chunked or length is not None)
        self.done = length == 0 and not chunked

    def read1(self, conn: _Connection, size: int) -> bytes:
        if self.chunked and not self.remaining and not self._next_chunk(conn):
            return b""
        if self.remaining is None:  # until the connection ends
            data = conn.read1(size)
            self.done = not data
            return data
        data = conn.read1(min(size, self.remaining))
        if not data:
            raise _Malformed(f"the connection ended {self.remaining} bytes before the body did")
        self.remaining -= len(data)
        if not self.chunked:
            self.done = self.remaining == 0
        elif self.remaining == 0 and conn.read_exactly(2) != b"\r\n":
            raise _Malformed("a chunk is not followed by CRLF")
        return data

    def _next_chunk(self, conn: _Connection) -> bool:
        """Read the next chunk-size line; False (and the trailers read) at the last chunk."""
        line = conn.readline()
        size_text = line.split(b";", 1)[0].strip()
        try:
            if not size_text or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                raise ValueError
            size = int(size_text, 16)
        except ValueError:
            raise _Malformed(f"bad chunk size line {line[:80]!r}") from None
        if size:
            self.remaining = size
            return True
        for _ in range(MAX_HEADERS + 1):  # trailer fields, up to the empty line
            if conn.readline().rstrip(b"\r\n") == b"":
                self.done = True
                return False
        raise _Malformed(f"more than {MAX_HEADERS} trailer lines")


class _Pool:
    """Idle connections per origin, most recently used first. Thread-safe."""

    def __init__(self, max_idle: int) -> None:
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._lock = threading.Lock()

    def take(self, origin: _Origin) -> _Connection | None:
        """An idle connection to ``origin`` with nothing waiting on it (those with bytes
        or the end of the stream waiting are closed), or None."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None or conn.idle_clean:
                return conn
            conn.close()

    def put(self, origin: _Origin, conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


class Transport:
    """GET requests over pooled connections, with proxies from the environment.

    Thread-safe: each request uses a connection of its own, taken from the pool or new.
    """

    def __init__(self, connect_timeout: float, read_timeout: float, *, max_idle: int = 32) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._proxies = urllib.request.getproxies()
        self._pool = _Pool(max_idle)
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()

    def get(self, url: str, headers: Mapping[str, str]) -> Response:
        """Send ``GET url`` with ``headers``; the answer once its head arrived."""
        try:
            origin, target = self._route(url)
        except ValueError as exc:
            raise DownloadError(f"{url}: {exc}") from None
        for value in headers.values():
            if "\r" in value or "\n" in value:
                raise DownloadError(f"{url}: a request header value holds a line break")
        try:
            request = _request_head(origin, target, headers)
        except UnicodeEncodeError as exc:
            raise DownloadError(f"{url}: a request header is not Latin-1: {exc}") from None
        pooled = self._pool.take(origin)
        for conn in (pooled, None) if pooled is not None else (None,):
            try:
                if conn is None:
                    conn = self._connect(origin)
                return self._exchange(url, origin, conn, request, reused=conn is pooled)
            except _Stale:
                continue  # the server closed it while it was idle: once more, on a new one
            except TimeoutError as exc:
                raise SlowRetrievalError(f"{url}: no answer within the timeout") from exc
            except ssl.SSLError as exc:
                raise DownloadError(f"{url}: TLS: {exc}") from exc
            except (OSError, _Malformed) as exc:
                raise DownloadError(f"{url}: {exc or type(exc).__name__}") from exc
        raise AssertionError("unreachable: a new connection is never stale")

    def close(self) -> None:
        """Close the pooled connections; the transport stays usable."""
        self._pool.clear()

    # -- internals -------------------------------------------------------------------

    def _route(self, url: str) -> tuple[_Origin, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
        host = parts.hostname
        if not host:
            raise ValueError("no host in the URL")
        port = parts.port or _DEFAULT_PORTS[scheme]  # ValueError for a bad port
        path = quote(parts.path or "/", safe=_TARGET_SAFE)
        target = path + (f"?{quote(parts.query, safe=_TARGET_SAFE)}" if parts.query else "")
        proxy = self._proxy_for(scheme, parts.netloc)
        return _Origin(scheme, _ascii_host(host), port, proxy), target

    def _proxy_for(self, scheme: str, netloc: str) -> SplitResult | None:
        proxy = self._proxies.get(scheme)
        if not proxy or urllib.request.proxy_bypass_environment(netloc, self._proxies):
            return None
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.scheme.lower() != "http":
            raise ValueError(
                f"the {scheme}_proxy {parts.scheme}://{parts.hostname}... is not supported: "
                "give the proxy as an http:// URL (HTTPS targets still get TLS end to end)"
            )
        if not parts.hostname:
            raise ValueError(f"the {scheme}_proxy setting names no host")
        return parts

    def _connect(self, origin: _Origin) -> _Connection:
        proxy = origin.proxy
        if proxy is None:
            address = (origin.host, origin.port)
        else:
            address = (_ascii_host(proxy.hostname or ""), proxy.port or 80)
        sock = socket.create_connection(address, timeout=self._connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                if proxy is not None:
                    _tunnel(sock, origin, proxy)
                sock = self._tls_context().wrap_socket(sock, server_hostname=origin.host)
            sock.settimeout(self._read_timeout)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _tls_context(self) -> ssl.SSLContext:
        with self._tls_lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _exchange(
        self, url: str, origin: _Origin, conn: _Connection, request: bytes, reused: bool
    ) -> Response:
        """Send the request, read the answer's head; :class:`_Stale` for a dead pooled one."""
        # The whole head (status line and fields, interim answers included) must arrive
        # within one read timeout; the fetcher's minimum rate only watches the body.
        deadline = time.monotonic() + self._read_timeout
        try:
            try:
                conn.sock.sendall(request)
                line = conn.readline(deadline)
            except (ConnectionResetError, BrokenPipeError):
                if reused:
                    raise _Stale from None
                raise
            if not line:
                if reused:
                    raise _Stale
                raise _Malformed("the server closed the connection without answering")
            for _ in range(_MAX_INTERIM + 1):
                status, version = _status(line)
                headers = _fields(conn, deadline)
                if not 100 <= status < 200:
                    break
                line = conn.readline(deadline)  # an interim answer (100 Continue): the next
            else:
                raise _Malformed(f"more than {_MAX_INTERIM} interim (1xx) answers")
            framing = _framing(status, version, headers)
        except BaseException:
            conn.close()
            raise
        return Response(url, status, headers, conn, self._pool, origin, framing)


def _request_head(origin: _Origin, target: str, headers: Mapping[str, str]) -> bytes:
    proxy = origin.proxy
    if proxy is not None and origin.scheme == "http":
        target = f"http://{origin.authority}{target}"  # absolute form, to the proxy
    lines = [f"GET {target} HTTP/1.1", f"Host: {origin.authority}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if proxy is not None and origin.scheme == "http":
        lines += _proxy_authorization(proxy)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _tunnel(sock: socket.socket, origin: _Origin, proxy: SplitResult) -> None:
    """Open a ``CONNECT`` tunnel to ``origin`` through the proxy on ``sock``."""
    authority = f"{origin.host}:{origin.port}" if ":" not in origin.host else origin.authority
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}", *_proxy_authorization(proxy)]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    conn = _Connection(sock)
    line = conn.readline()
    if not line:
        raise _Malformed("the proxy closed the connection during CONNECT")
    status, _ = _status(line)
    _fields(conn)
    if not 200 <= status < 300:
        raise _Malformed(f"the proxy refused to CONNECT to {authority}: status {status}")
    if conn.leftover:  # TLS must start on a clean stream
        raise _Malformed("the proxy sent bytes after its answer to CONNECT")


def _proxy_authorization(proxy: SplitResult) -> list[str]:
    if proxy.username is None:
        return []
    credentials = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
    return [f"Proxy-Authorization: Basic {base64.b64encode(credentials.encode()).decode()}"]


def _status(line: bytes) -> tuple[int, str]:
    """The status code and HTTP version of a status line."""
    version, _, rest = line.rstrip(b"\r\n").partition(b" ")
    code = rest[:3]
    if (
        version not in (b"HTTP/1.1", b"HTTP/1.0")
        or len(code) != 3
        or not code.isdigit()
        or rest[3:4] not in (b"", b" ")
    ):
        raise _Malformed(f"bad status line {line[:80]!r}")
    return int(code), version.decode()


def _fields(conn: _Connection, deadline: float | None = None) -> Headers:
    """The field lines of an answer, up to the empty line: lower-case name to first value."""
    headers = Headers()
    for _ in range(MAX_HEADERS + 1):
        line = conn.readline(deadline).rstrip(b"\r\n")
        if not line:
            return headers
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip() or name[:1] in b" \t":
            raise _Malformed(f"bad header field line {line[:80]!r}")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        if key == "content-length" and key in headers and headers[key] != text:
            raise _Malformed("two different Content-Length values")
        headers.setdefault(key, text)
    raise _Malformed(f"more than {MAX_HEADERS} header field lines")


def _framing(status: int, version: str, headers: Mapping[str, str]) -> _Framing:
    """How the body of this answer ends, and whether its connection can be reused."""
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    reusable = version == "HTTP/1.1" and "close" not in tokens
    if status in _NO_BODY_STATUSES:
        return _Framing(0, chunked=False, reusable=reusable)
    encoding = headers.get("transfer-encoding")
    if encoding is not None:
        chunked = encoding.split(",")[-1].strip().lower() == "chunked"
        # With a Content-Length too, or chunks not last: read it, never reuse it.
        smuggled = "content-length" in headers or not chunked
        return _Framing(None, chunked=chunked, reusable=reusable and not smuggled)
    length = headers.get("content-length")
    if length is None:
        return _Framing(None, chunked=False, reusable=False)
    if not length.isdigit():
        raise _Malformed(f"bad Content-Length {length[:40]!r}")
    return _Framing(int(length), chunked=False, reusable=reusable)


def _ascii_host(host: str) -> str:
    """A host name as it goes on the wire: IDNA for a name that is not ASCII."""
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")
    return host
