"""Unmodified installers pointed at the proxy, a raw HTTP client, what installs resolve to.

The proxy as a real process is tuf_pypi.testing.proxy_process (the soak run uses it too).

Installers run with :func:`tuf_pypi.demo.installer_env`: no pip.conf, no ``PIP_*`` or
``UV_*`` variables, no HTTP proxy, so the only index they know is the one a test gives.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import pytest

from tuf_pypi.demo import installer_env
from tuf_pypi.testing.proxy_process import ProxyProcess

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
#: The sample project most proxy tests ask for.
PROJECT = "demo-core"
#: What ``demo-app`` resolves to: demo-lib 2.0 is yanked, so 1.0.
RESOLVED = {"demo_app-1.1", "demo_lib-1.0", "demo_core-1.0"}

#: The ``start_proxy`` fixture: ``tuf-pypi proxy`` over the given mirrors.
StartProxy = Callable[..., ProxyProcess]


class HasURL(Protocol):
    """A proxy (in this process or not): its index URL, ``http://host:port/simple/``."""

    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


def request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 30
) -> Answer:
    """One request with no redirects followed and no headers added but ``headers``."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.reason, response.headers, response.read())
    finally:
        connection.close()


def raw_exchange(proxy: HasURL, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the proxy answers before closing.

    For request heads no HTTP client would send (bad lines, control characters).
    """
    parts = urlsplit(proxy.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def page(proxy: HasURL, project: str = PROJECT, accept: str = PIP_ACCEPT) -> Answer:
    """The proxy's page of ``project``, asked for as pip asks."""
    return request(f"{proxy.url}{project}/", headers={"Accept": accept})


def file_url(proxy: HasURL, project: str = PROJECT, index: int = 0) -> str:
    """The absolute URL of a file as the proxy's JSON page links to it."""
    answer = page(proxy, project)
    entry = json.loads(answer.body)["files"][index]
    return urljoin(f"{proxy.url}{project}/", entry["url"])


# -- installers ------------------------------------------------------------------------


def run(command: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run an installer in :func:`installer_env`, capturing its output."""
    env = installer_env()
    return subprocess.run(
        list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    """Unmodified pip (this interpreter's), without its cache or version check."""
    return run(
        [sys.executable, "-m", "pip", *args, "--no-cache-dir", "--disable-pip-version-check"]
    )


def uv_binary() -> str:
    """The uv executable next to this interpreter (the ``test`` extra installs it)."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.skip("uv is not installed: pip install -e '.[test]'")
    return found


def fresh_venv(path: Path) -> Path:
    """A new virtual environment without pip (fast); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def installed(target: Path) -> set[str]:
    """``name-version`` of every distribution installed under ``target`` (a --target dir)."""
    return {path.name.removesuffix(".dist-info") for path in target.glob("*.dist-info")}


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
