"""The proxy remembers a hung mirror: with it listed first, an install costs one
timeout, not one per request (issue 15 §3), and the state is logged and exported."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuf_pypi.testing.mirror_server import MirrorServer

from .helpers import RESOLVED, StartProxy, installed, output, pip, request


@pytest.fixture
def hung_url() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


def test_pip_install_with_a_hung_first_mirror(
    hung_url: str, mirror: MirrorServer, start_proxy: StartProxy, tmp_path: Path
) -> None:
    proxy = start_proxy(hung_url, mirror)  # --timeout 5
    target = tmp_path / "site"
    start = time.monotonic()
    result = pip("install", "--target", str(target), "--index-url", proxy.url, "demo-app")
    elapsed = time.monotonic() - start
    assert result.returncode == 0, output(result)
    assert installed(target) == RESOLVED
    # One 5 s timeout (the refresh), then the hung mirror is tried last: before, each
    # of the three wheels (and each .metadata file) waited out the timeout again.
    assert elapsed < 12, (elapsed, proxy.stderr())
    assert f"mirror {hung_url} is down" in proxy.stderr()
    metrics = request(proxy.url.removesuffix("simple/") + "metrics").body.decode()
    assert f'tuf_pypi_proxy_mirror_up{{mirror="{hung_url}"}} 0.0' in metrics
    assert f'tuf_pypi_proxy_mirror_up{{mirror="{mirror.url}"}} 1.0' in metrics
