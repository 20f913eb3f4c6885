"""Running and watching the soak's processes: measured runs, events, memory, disk."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuf_pypi.demo import installer_env
from tuf_pypi.repository import RepositoryStorage, load_view

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "soak-passphrase-not-a-secret"
#: The offline keys' (init only); it must differ from the online one.
OFFLINE_PASSPHRASE = "soak-offline-passphrase-not-a-secret"
PYTHON = sys.executable


@dataclass
class Measured:
    """A short-lived process's result and peak memory."""

    code: int | None
    out: str
    err: str
    max_rss_kb: int
    seconds: float


def soak_env(**extra: str) -> dict[str, str]:
    return {
        **installer_env(),
        "TUF_PYPI_PASSPHRASE": PASSPHRASE,
        "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def run_measured(
    command: Sequence[str],
    timeout: float,
    env: dict[str, str] | None = None,
    kill_when: Callable[[float], bool] | None = None,
) -> Measured:
    """Run ``command`` to its end (or kill -9 it after ``timeout`` or when ``kill_when``
    says so, given the seconds it has run), sampling its peak RSS every 20 ms (wait4's
    ru_maxrss would count the harness's own pages, copied by fork before exec)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env or soak_env())
        peak = 0
        while True:
            peak = max(peak, peak_rss_kb(process.pid))
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.monotonic() - started
            if elapsed > timeout or (kill_when is not None and kill_when(elapsed)):
                os.kill(process.pid, signal.SIGKILL)
                pid, status = os.waitpid(process.pid, 0)
                break
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            process.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            peak,
            time.monotonic() - started,
        )


def tuf_pypi(*args: str) -> list[str]:
    return [PYTHON, "-m", "tuf_pypi.cli", *args]


def read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(OSError), path.open() as lines:
        for line in lines:
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def signed_pages(tree: Path) -> dict[str, str]:
    """target path -> sha256 of every page the tree's current metadata signs."""
    view = load_view(RepositoryStorage(tree))
    return {
        path: target.hashes["sha256"]
        for name in view.bin_names()
        for path, target in view.bin(name).signed.targets.items()
    }


def peak_rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def tree_bytes(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
    return total


def after(seconds: float | None) -> Callable[[float], bool] | None:
    """A ``kill_when`` that kills after ``seconds`` (None: never)."""
    return None if seconds is None else lambda elapsed: elapsed >= seconds


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
