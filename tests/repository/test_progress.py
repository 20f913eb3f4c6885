"""Long commands show click progress bars on a terminal, and nothing otherwise."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from tuf_pypi.sample import build_index
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE


def _run(args: list[str], tty: bool) -> tuple[int, str, str]:
    """Run tuf-pypi with stderr on a pseudo-terminal (``tty``) or a pipe."""
    env = {**os.environ, "TUF_PYPI_PASSPHRASE": PASSPHRASE, "COLUMNS": "120"}
    env["TUF_PYPI_OFFLINE_PASSPHRASE"] = OFFLINE_PASSPHRASE
    command = [sys.executable, "-m", "tuf_pypi.cli", *args]
    if not tty:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait(60)
    os.close(master)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize(
    ("command", "labels"),
    [
        ("publish", ["scanning pages"]),
        ("verify", ["bins", "pages"]),
        ("verify --mirror --files", ["bins", "pages", "files"]),
    ],
)
def test_progress_on_a_terminal_only(make_repo, command: str, labels: list[str]) -> None:
    signed = make_repo(publish=command != "publish")
    args = [*command.split(), "--repo", str(signed.repo)]
    if command == "publish":
        args += ["--keys-dir", str(signed.keys_dir)]
    code, _, err = _run(args, tty=True)
    assert code == 0, err
    for label in labels:
        assert label in err, err
    assert "100%" in err
    if command == "publish":
        (signed.repo / "simple/demo-app/index.html").write_bytes(b"<html><body></body></html>")
    code, _, err = _run(args, tty=False)
    assert code == 0 and "%" not in err and not any(label in err for label in labels), err


def test_quiet_under_json_on_a_terminal(make_repo) -> None:
    signed = make_repo()
    code, _, err = _run(["verify", "--repo", str(signed.repo), "--json"], tty=True)
    assert code == 0 and err == ""


def test_init_shows_progress_on_a_terminal(tmp_path) -> None:
    build_index(tmp_path / "web")
    args = ["init", "--repo", str(tmp_path / "web"), "--keys-dir", str(tmp_path / "k")]
    code, _, err = _run([*args, "--bins", "256", "--kdf-limits", "interactive"], tty=True)
    assert code == 0 and "signing roles" in err and "100%" in err, err
