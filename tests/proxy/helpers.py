"""The proxy as a real process, unmodified installers pointed at it, and a raw HTTP client.

Installers run with :func:`tuf_pypi.demo.installer_env`: no pip.conf, no ``PIP_*`` or
``UV_*`` variables, no HTTP proxy, so the only index they know is the one a test gives.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import pytest

from tuf_pypi.demo import installer_env

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
#: The sample project most proxy tests ask for.
PROJECT = "demo-core"
_URL = re.compile(r"http://\S+/simple/")
_START_TIMEOUT = 20.0


class ProxyProcess:
    """``python -m tuf_pypi.cli proxy ... --port 0``, with the URL it printed."""

    def __init__(
        self, mirrors: Sequence[str], root: Path, cache: Path, *extra: str, log: Path
    ) -> None:
        command = [sys.executable, "-m", "tuf_pypi.cli", "proxy", "--root", str(root)]
        for mirror in mirrors:
            command += ["--mirror", mirror]
        command += ["--cache", str(cache), "--port", "0", "--timeout", "5", *extra]
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            env=installer_env(),
        )
        self.url = self._read_url()

    def _read_url(self) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], _START_TIMEOUT)
        line = self.process.stdout.readline() if ready else ""
        match = _URL.search(line)
        if match is None:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"proxy did not start: {line!r}\n{self.stderr()}")
        return match.group(0)

    def stderr(self) -> str:
        """What the process logged so far (its stderr goes straight to the log file)."""
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit code (killing it after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        self._log_file.close()
        assert self.process.stdout is not None
        self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


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
