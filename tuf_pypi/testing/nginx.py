"""Run the shipped nginx/tuf-pypi.conf with Debian's nginx, on loopback, for one test.

nginx runs in the foreground (``daemon off``) under a temporary prefix, so it writes
nothing outside the test's directory. The configuration is the checkout's
``nginx/`` directory (what docs/mirror.md ships), so this runs from a checkout.
Without nginx, :class:`NginxMissing`; the tests' fixture turns it into a skip,
except in CI (``CI=true``), where a missing nginx is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "nginx" / "tuf-pypi.conf"
MAIN_TEMPLATE = TEMPLATE.with_name("nginx.conf")  # the whole config docs/services.md gives


class NginxMissing(RuntimeError):
    """nginx is not installed here."""


def nginx_binary() -> str:
    """Path of nginx; :class:`NginxMissing` when it is not installed."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise NginxMissing("nginx is not installed (scripts/install-system-deps installs it)")
    return found


def render_site(root: Path, listen: str, server_name: str = "localhost") -> str:
    """The template with its placeholders filled in, as docs/mirror.md's sed does."""
    return (
        TEMPLATE.read_text()
        .replace("@ROOT@", str(root))
        .replace("@LISTEN@", listen)
        .replace("@SERVER_NAME@", server_name)
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Nginx:
    """One nginx serving ``root``; ``url`` is its base URL."""

    def __init__(self, root: Path, prefix: Path) -> None:
        self.root = root
        self.prefix = prefix
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        binary = nginx_binary()
        self.prefix.mkdir(parents=True, exist_ok=True)
        # As root, nginx would hand requests to www-data, who cannot read pytest's tmp.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        main = MAIN_TEMPLATE.read_text().replace("@PREFIX@", str(self.prefix))
        main = main.replace("worker_processes auto;", "worker_processes 1;")
        conf.write_text(main.replace("user www-data;", user))
        for _attempt in range(3):  # the free port may be taken before nginx binds it
            port = _free_port()
            (self.prefix / "site.conf").write_text(render_site(self.root, f"127.0.0.1:{port}"))
            self.process = subprocess.Popen(
                [
                    binary,
                    "-p",
                    str(self.prefix),
                    "-c",
                    str(conf),
                    "-e",
                    str(self.prefix / "error.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                if _accepts(port):
                    self.url = f"http://127.0.0.1:{port}"
                    return self.url
                time.sleep(0.02)
            self.stop()
        log = (self.prefix / "error.log").read_text(errors="replace")
        raise RuntimeError(f"nginx did not start:\n{log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
