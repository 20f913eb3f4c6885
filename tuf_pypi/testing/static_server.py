"""A static web server on loopback: what any mirror is, for the demo and the tests."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["QuietHandler", "serve_directory"]


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_directory(
    directory: Path, handler: type[SimpleHTTPRequestHandler] = QuietHandler
) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) from a daemon thread.

    Returns the server (call ``shutdown()`` and ``server_close()`` when done) and its
    base URL without a trailing slash.
    """
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
