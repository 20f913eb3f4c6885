"""Fixtures for mirror tests: static servers that log requests, nginx.

The signed sample repository (``make_repo``) and ``serve`` are tests/conftest.py's.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tuf_pypi.testing import QuietHandler
from tuf_pypi.testing.nginx import Nginx, NginxMissing

from .helpers import Server


@pytest.fixture
def http() -> Iterator[Callable[[Path], Server]]:
    servers: list[ThreadingHTTPServer] = []

    def start(directory: Path) -> Server:
        log: list[str] = []

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                log.append(self.path)
                super().do_GET()

        httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return Server(f"http://127.0.0.1:{httpd.server_address[1]}", log)

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Start nginx with nginx/tuf-pypi.conf for a directory; returns its base URL."""
    servers: list[Nginx] = []

    def start(root: Path) -> str:
        server = Nginx(root, tmp_path / f"nginx-{len(servers)}")
        try:
            url = server.start()
        except NginxMissing as missing:
            if os.environ.get("CI") == "true":
                pytest.fail(str(missing))
            pytest.skip(str(missing))
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.stop()
