"""A loopback server whose answers a test writes byte by byte, for transport tests.

``http.server`` always frames its answers correctly; a hostile or broken mirror does
not. Here each accepted connection runs a *script* (a function of a
:class:`RawConnection`) that reads request heads and writes whatever bytes it likes:
malformed status lines, odd chunked framing, bodies shorter or longer than announced,
silence, an early close. The server counts the connections it accepted, so a test can
tell a reused keep-alive connection from a new one, and can speak TLS with a context
from :mod:`.tls`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "RawConnection",
    "RawServer",
    "RequestHead",
    "Script",
    "answer",
    "response",
]

Script = Callable[["RawConnection"], None]

# A request head larger than this is not one a test client sends.
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class RequestHead:
    """A request line and its headers (names lower-cased)."""

    line: str
    headers: dict[str, str]

    @property
    def method(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        """The request target as sent: ``/path``, ``http://host/path``, ``host:port``."""
        return self.line.split(" ")[1]


class RawConnection:
    """One accepted connection, as the script sees it."""

    def __init__(self, sock: socket.socket, server: RawServer) -> None:
        self.sock = sock
        self.server = server
        self._buffer = b""

    def read_request(self) -> RequestHead | None:
        """The next request head (recorded on the server), or None when the client left."""
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEAD:
                raise ValueError("request head too large")
            try:
                data = self.sock.recv(65536)
            except OSError:  # reset, or the server stopping closed the socket
                return None
            if not data:
                return None
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        line, *fields = head.decode("latin-1").split("\r\n")
        headers = {}
        for field in fields:
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
        request = RequestHead(line, headers)
        self.server.record(request)
        return request

    def take_buffered(self) -> bytes:
        """Bytes received after the last request head (a tunnel relays them on)."""
        data, self._buffer = self._buffer, b""
        return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hold(self, seconds: float = 30.0) -> None:
        """Keep the connection open and silent until the server stops (or ``seconds``)."""
        self.server.stopping.wait(seconds)

    def close(self) -> None:
        """Close now, sending FIN (not RST) even if request bytes are unread."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class RawServer:
    """Runs ``script`` on each connection accepted on 127.0.0.1, in its own thread.

    With ``tls``, each connection does a server-side TLS handshake first; a handshake the
    client aborts (it did not trust the certificate) ends that connection quietly and is
    counted in :attr:`tls_failures`.
    """

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.stopping = threading.Event()
        self.requests: list[RequestHead] = []
        self.tls_failures = 0
        self._accepted = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    def record(self, request: RequestHead) -> None:
        with self._lock:
            self.requests.append(request)

    def stop(self) -> None:
        """Stop accepting, and close every connection still open (ending their scripts)."""
        self.stopping.set()
        # Closing a socket does not wake a thread blocked in its accept(); a connection does.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            pass
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self.stopping.is_set():  # the connection stop() made to wake this up
                sock.close()
                return
            with self._lock:
                self._accepted += 1
                self._open.add(sock)
            threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock: socket.socket) -> None:
        conn_sock = sock
        try:
            if self.tls is not None:
                try:
                    conn_sock = self.tls.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.tls_failures += 1
                    return
                with self._lock:
                    self._open.add(conn_sock)
            self.script(RawConnection(conn_sock, self))
        except OSError:
            pass  # the client hung up mid-script: expected after a refusal
        finally:
            with self._lock:
                self._open.discard(sock)
                self._open.discard(conn_sock)
            with contextlib.suppress(OSError):
                conn_sock.close()


def response(
    body: bytes = b"ok", status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    """A well-formed HTTP/1.1 answer with a Content-Length (so keep-alive is possible)."""
    fields = {"Content-Length": str(len(body)), **(headers or {})}
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode("latin-1") + b"\r\n" + body


def answer(*raw: bytes, then: bytes | None = None) -> Script:
    """A script sending ``raw[i]`` as the answer to the i-th request on a connection.

    After those, later requests get ``then`` if given; otherwise the connection is held
    open and silent until the client leaves.
    """

    def script(conn: RawConnection) -> None:
        answers = list(raw)
        while conn.read_request() is not None:
            if answers:
                conn.send(answers.pop(0))
            elif then is not None:
                conn.send(then)
            else:
                conn.hold()
                return

    return script
