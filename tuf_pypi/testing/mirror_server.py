"""A mirror on 127.0.0.1 that serves a directory, with hooks to misbehave per path.

Each hook replaces the answer for one request path: other bytes, an HTTP error, an
endless body, a trickle, silence, a gzip bomb. Everything else is served from the
directory as is, so one tree can back an honest and a malicious mirror at once.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .signed_index import Index

Hook = Callable[["MirrorHandler"], None]
#: The ``serve`` fixture of tests/client and tests/proxy: a mirror of an index's ``repo/``.
Serve = Callable[[Index], "MirrorServer"]

# An endless answer stops here even if the client never hangs up.
_ENDLESS_CAP = 512 * 1024 * 1024


class MirrorHandler(BaseHTTPRequestHandler):
    server: MirrorServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and
    # delayed ACKs add 40 ms to every request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path).lstrip("/")
        self.server.record(path)
        hook = self.server.hooks.get(path)
        if hook is not None:
            hook(self)
            return
        file = (self.server.root / path).resolve()
        if not file.is_file() or not file.is_relative_to(self.server.root.resolve()):
            self.send_bytes(b"not found", status=404)
            return
        self.send_bytes(file.read_bytes())

    def send_bytes(
        self, data: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class MirrorServer(ThreadingHTTPServer):
    """Serves ``root``; ``hooks`` maps a request path (no leading /) to a misbehaviour."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.root = Path(root)
        self.hooks: dict[str, Hook] = {}
        self.requests: list[str] = []
        #: Bytes each endless answer sent before the client hung up (or the cap).
        self.endless_sent: list[int] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client hangs up (after a refusal or a timeout): that is
        expected here, and its traceback would land in a command's captured stderr.
        Any other error is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def count(self, path: str) -> int:
        with self._lock:
            return self.requests.count(path)

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def closed_port_url() -> str:
    """A URL on which nothing listens (the port was just released)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/"


# -- hooks -----------------------------------------------------------------------------


def replace(data: bytes, headers: dict[str, str] | None = None) -> Hook:
    """Serve ``data`` instead of the file."""
    return lambda handler: handler.send_bytes(data, headers=headers)


def status(code: int) -> Hook:
    return lambda handler: handler.send_bytes(b"error", status=code)


def endless(chunk: bytes = b"\0" * 65536) -> Hook:
    """A 200 answer that never ends (until the client hangs up, or a large cap)."""

    def hook(handler: MirrorHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        sent = 0
        try:
            while sent < _ENDLESS_CAP and not handler.server.stopping.is_set():
                handler.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the client hung up: what it should do
        finally:
            handler.server.endless_sent.append(sent)

    return hook


def redirect(location: str, code: int = 302) -> Hook:
    """Answer with a redirect to ``location`` (absolute, or relative to the request)."""
    return lambda handler: handler.send_bytes(b"moved", status=code, headers={"Location": location})


def trickle(data: bytes, delay: float = 0.05) -> Hook:
    """Send ``data`` (with its true length) one byte per ``delay`` seconds."""

    def hook(handler: MirrorHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            for i in range(len(data)):
                if handler.server.stopping.wait(delay):
                    return
                handler.wfile.write(data[i : i + 1])
                handler.wfile.flush()
        except OSError:
            pass

    return hook


def stall(handler: MirrorHandler) -> None:
    """Accept the request and never answer."""
    handler.close_connection = True
    handler.server.stopping.wait(30)


def delayed(seconds: float) -> Hook:
    """Serve the file, but only after ``seconds``."""

    def hook(handler: MirrorHandler) -> None:
        time.sleep(seconds)
        path = unquote(urlsplit(handler.path).path).lstrip("/")
        handler.send_bytes((handler.server.root / path).read_bytes())

    return hook


def gzipped(data: bytes) -> Hook:
    """Serve ``data`` gzip-compressed with ``Content-Encoding: gzip``."""
    return replace(gzip.compress(data), {"Content-Encoding": "gzip"})


def gzip_bomb(mebibytes: int = 64) -> Hook:
    """A gzip body of ~64 KiB that decompresses to ``mebibytes`` MiB of zero bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    body = b"".join(compressor.compress(zeros) for _ in range(mebibytes)) + compressor.flush()
    return replace(body, {"Content-Encoding": "gzip"})
