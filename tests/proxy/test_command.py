"""``tuf-pypi proxy`` as a process: prints its URL, serves, and stops cleanly on signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.testing.mirror_server import MirrorServer, delayed
from tuf_pypi.testing.proxy_process import ProxyProcess
from tuf_pypi.testing.signed_index import Index

from .helpers import PIP_ACCEPT, StartProxy, request


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["proxy", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "pip install --index-url http://127.0.0.1:8458/simple/" in result.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serves_then_stops_cleanly(start_proxy: StartProxy, mirror: MirrorServer, sig: int) -> None:
    proxy = start_proxy(mirror)
    assert proxy.url.startswith("http://127.0.0.1:")
    assert request(f"{proxy.url}demo-core/", headers={"Accept": PIP_ACCEPT}).status == 200
    assert proxy.stop(sig) == 0
    assert "Stopped." in proxy.stderr()
    assert "Traceback" not in proxy.stderr()
    with pytest.raises(OSError):
        request(proxy.url, timeout=2)


def test_a_request_in_progress_finishes_on_sigterm(
    start_proxy: StartProxy, serve: Callable[[Index], MirrorServer], base_index: Index
) -> None:
    """SIGTERM stops accepting, but a file being fetched and verified is still served."""
    rel, wheel = base_index.wheel("demo-core")
    slow = serve(base_index)
    slow.hooks[rel] = delayed(1.0)
    proxy = start_proxy(slow)
    page = request(f"{proxy.url}demo-core/", headers={"Accept": PIP_ACCEPT})
    url = urljoin(f"{proxy.url}demo-core/", json.loads(page.body)["files"][0]["url"])
    answers: list = []
    fetching = threading.Thread(target=lambda: answers.append(request(url)))
    fetching.start()
    time.sleep(0.4)  # the proxy is now waiting for the slow mirror
    assert proxy.stop() == 0
    fetching.join(10)
    assert answers and answers[0].status == 200 and answers[0].body == wheel


def test_bad_root_is_one_line_and_exit_1(tmp_path: Path, mirror: MirrorServer) -> None:
    bad = tmp_path / "root.json"
    bad.write_text("{}")
    command = [sys.executable, "-m", "tuf_pypi.cli", "proxy", "--mirror", mirror.url]
    command += ["--root", str(bad), "--cache", str(tmp_path / "cache"), "--port", "0"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert (
        result.stderr.startswith("error: ") and "not valid, self-signed TUF root" in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("other", ["127.0.0.1", "0.0.0.0"], ids=["loopback", "any"])
def test_port_in_use(tmp_path: Path, mirror: MirrorServer, root_file: Path, other: str) -> None:
    """Another program on the port (on loopback, or on every address): a clear error,
    and nothing is sent to it."""
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind((other, 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["proxy", "--mirror", mirror.url, "--root", str(root_file)]
        args += ["--cache", str(tmp_path / "cache"), "--port", str(port)]
        result = CliRunner().invoke(main, args)
        taken.settimeout(0.2)
        with pytest.raises(TimeoutError):
            taken.accept()  # the proxy never connected to it
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert f"Another program is listening on port {port}" in result.output
    assert "--port 0 picks a free one" in result.output


def test_verbose_log_escapes_control_characters(
    mirror: MirrorServer, root_file: Path, tmp_path: Path
) -> None:
    # A local client puts a carriage return and terminal escapes into its request line.
    log = tmp_path / "proxy.log"
    with ProxyProcess([mirror.url], root_file, tmp_path / "cache", "-v", log=log) as proxy:
        port = int(proxy.url.split(":")[2].split("/")[0])
        for line, status in [
            # Both are refused (no control character is valid in a request target),
            # and both are still logged, escaped.
            (b"GET /x\x1b]0;pwned\x07\x1b[2J HTTP/1.1", b"400"),  # retitles the terminal
            (b"GET /x\rFORGED HTTP/1.1", b"400"),  # overwrites the line shown
        ]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(line + b"\r\nHost: 127.0.0.1\r\n\r\n")
                assert conn.recv(65536).startswith(b"HTTP/1.1 " + status)
    text = log.read_text(encoding="latin-1")
    assert "GET /x\\x1b]0;pwned\\x07\\x1b[2J HTTP/1.1" in text
    assert "GET /x\\x0dFORGED HTTP/1.1" in text
    assert not any(c in text for c in "\r\x1b\x07")


def test_mirrors_and_root_from_a_configuration_file(
    mirror: MirrorServer, root_file: Path, tmp_path: Path
) -> None:
    """``tuf-pypi proxy --config FILE``: no --mirror or --root needed, and it says where
    they came from."""
    config = tmp_path / "tuf-pypi.toml"
    config.write_text(f'mirrors = ["{mirror.url}"]\nroot = "{root_file}"\n')
    command = [sys.executable, "-m", "tuf_pypi.cli", "proxy", "--config", str(config)]
    command += ["--cache", str(tmp_path / "cache"), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/simple/")
        assert request(f"{url}demo-core/", headers={"Accept": PIP_ACCEPT}).status == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert f"tuf-pypi proxy: mirrors from {config}" in stderr
    assert f"tuf-pypi proxy: pinned root {root_file} from {config}" in stderr
