"""Helpers for the demo and the tests: a static mirror on loopback, python-tuf's client.

Both stand for things users have anyway (any static web server, any TUF client), so
they live in one place instead of in every test module that needs them.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tuf.ngclient import Updater, UpdaterConfig

__all__ = ["QuietHandler", "ngclient_updater", "serve_directory"]


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


def ngclient_updater(url: str, root: bytes, cache: Path, **kwargs: object) -> Updater:
    """python-tuf's own client for the index at ``url``, configured for its layout.

    Metadata under ``<url>/tuf/``, page targets under ``<url>/`` with consistent
    snapshot names (``<sha256>.index.html``); downloads go to ``cache/downloads``.
    """
    (cache / "downloads").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(cache),
        metadata_base_url=f"{url}/tuf/",
        target_base_url=f"{url}/",
        target_dir=str(cache / "downloads"),
        config=UpdaterConfig(prefix_targets_with_hash=True),
        bootstrap=root,
        **kwargs,  # type: ignore[arg-type]
    )
