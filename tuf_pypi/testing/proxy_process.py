"""``tuf-pypi proxy`` as a real process, as installers and the soak run meet it."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tuf_pypi.demo import installer_env

__all__ = ["ProxyProcess"]

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
