"""A forward HTTP proxy on loopback that records what it was asked, for transport tests.

It speaks the two forms a client behind ``http_proxy`` / ``https_proxy`` uses:
absolute-form requests (``GET http://host:port/path HTTP/1.1``), forwarded upstream
one per connection, and ``CONNECT host:port`` tunnels, relayed blindly so TLS stays end
to end. Every request head it receives is in :attr:`ForwardProxy.requests` (the
inherited :attr:`.RawServer.requests`), with its headers, so a test can check which
form was used and what ``Proxy-Authorization`` came with it. With ``credentials`` it
answers 407 to requests without the matching Basic credentials, as a real proxy does.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
from urllib.parse import urlsplit

from .raw_http import RawConnection, RawServer, RequestHead

__all__ = ["ForwardProxy"]

# Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: not forwarded upstream.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"}
)
_DENIED = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
)
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ForwardProxy(RawServer):
    """A proxy on 127.0.0.1; ``credentials`` (user, password) makes it require them."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        super().__init__(self._serve)

    def url_with(self, user: str, password: str) -> str:
        """The proxy's URL with credentials in it, as ``http_proxy`` may carry them."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def _authorized(self, request: RequestHead) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return request.headers.get("proxy-authorization") == f"Basic {token}"

    def _serve(self, conn: RawConnection) -> None:
        request = conn.read_request()
        if request is None:
            return
        if not self._authorized(request):
            conn.send(_DENIED)
        elif request.method == "CONNECT":
            self._tunnel(conn, request)
        elif urlsplit(request.target).scheme == "http":
            self._forward(conn, request)
        else:
            conn.send(_BAD_REQUEST)

    def _tunnel(self, conn: RawConnection, request: RequestHead) -> None:
        host, _, port = request.target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except (OSError, ValueError):
            conn.send(_BAD_GATEWAY)
            return
        with upstream:
            conn.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.sendall(conn.take_buffered())
            self._relay(conn.sock, upstream)

    def _forward(self, conn: RawConnection, request: RequestHead) -> None:
        """Send one absolute-form request upstream in origin form; relay the answer."""
        parts = urlsplit(request.target)
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        fields = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        fields["connection"] = "close"  # one request per upstream connection: EOF ends it
        version = request.line.rsplit(" ", 1)[1]
        head = f"{request.method} {path} {version}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        try:
            upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
        except OSError:
            conn.send(_BAD_GATEWAY)
            return
        with upstream:
            upstream.sendall(head.encode("latin-1") + conn.take_buffered())
            while data := upstream.recv(65536):
                conn.send(data)
        conn.close()  # the client sees the answer end with the connection

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        """Copy bytes both ways until either side closes or the proxy stops."""
        peers = {a: b, b: a}
        while not self.stopping.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.1)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                with contextlib.suppress(OSError):
                    peers[sock].sendall(data)
