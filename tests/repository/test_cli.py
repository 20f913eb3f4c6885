"""The tuf-pypi command as an admin uses it: output, --json, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.repository import init_repository
from tuf_pypi.sample import build_index
from tuf_pypi.testing.passphrases import OFFLINE, OFFLINE_PASSPHRASE, PASSPHRASE

ENV = {"TUF_PYPI_PASSPHRASE": PASSPHRASE, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
#: Throwaway test keys: cheap offline key files (the default is "sensitive").
FAST = ("--kdf-limits", "interactive")


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=ENV if env is None else env)


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, Path]:
    repo, keys = tmp_path / "repo", tmp_path / "keys"
    build_index(repo)
    return repo, keys


@pytest.mark.parametrize(
    "command", [[], ["init"], ["publish"], ["refresh"], ["status"], ["verify"]]
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage: " in result.output and len(result.output.splitlines()) > 5


def test_admin_workflow(index) -> None:
    repo, keys = index
    args = ["--repo", str(repo), "--keys-dir", str(keys)]
    result = run("init", *args, "--expected-projects", "100", *FAST)
    assert result.exit_code == 0, result.output
    assert "Initialised" in result.output and "online.key" in result.output

    result = run("publish", *args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["added"]) == 8 and report["timestamp_version"] == 2

    result = run("publish", *args)
    assert result.exit_code == 0 and "nothing changed" in result.output

    result = run("verify", "--repo", str(repo))
    assert result.exit_code == 0 and result.output.startswith("OK")

    result = run("status", "--repo", str(repo), "--json")
    assert result.exit_code == 0
    status = json.loads(result.stdout)
    assert status["status"] == "ok" and status["targets"] == 8 and status["bins"] == 16

    result = run("refresh", *args, "--within", "2d")
    assert result.exit_code == 0 and "timestamp v3" in result.output

    result = run("init", *args)
    assert result.exit_code == 1 and "already exists" in result.output


def test_publish_exit_code_3_when_pages_are_skipped(index) -> None:
    repo, keys = index
    args = ["--repo", str(repo), "--keys-dir", str(keys)]
    assert run("init", *args, "--bins", "16", *FAST).exit_code == 0
    (repo / "simple/demo-app/index.v1_json").write_bytes(b"\xff not utf-8")
    result = run("publish", *args)
    assert result.exit_code == 3
    assert "skipped simple/demo-app/index.v1_json" in result.output
    # verify says why publish refuses the page instead of telling to publish it
    result = run("verify", "--repo", str(repo))
    assert result.exit_code == 3
    assert "refused: simple/demo-app/index.v1_json: not valid UTF-8" in result.output
    assert "pending" not in result.output and "tuf-pypi publish" not in result.output


def test_errors_are_one_line_without_secrets(index) -> None:
    repo, keys = index
    args = ["--repo", str(repo), "--keys-dir", str(keys)]
    assert run("init", *args, "--bins", "16", *FAST).exit_code == 0
    secret = "not-the-passphrase-42"
    proc = subprocess.run(
        [sys.executable, "-m", "tuf_pypi.cli", "publish", *args],
        env={"TUF_PYPI_PASSPHRASE": secret, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "wrong passphrase" in proc.stderr and "online.key" in proc.stderr
    assert "Traceback" not in proc.stderr and secret not in proc.stderr + proc.stdout

    proc = subprocess.run(
        [sys.executable, "-m", "tuf_pypi.cli", "publish", *args],
        env={"PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "TUF_PYPI_PASSPHRASE" in proc.stderr


def test_refuses_keys_inside_the_served_tree(index) -> None:
    repo, _ = index
    result = run("init", "--repo", str(repo), "--keys-dir", str(repo / "keys"))
    assert result.exit_code == 1 and "would be served" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bins", "12"], "power of two"),
        (["--bins", "16", "--expected-projects", "5"], "not both"),
        (["--root-keys", "2", "--root-threshold", "3"], "exceeds"),
        (["--timestamp-expiry", "soon"], "not a duration"),
    ],
)
def test_init_usage_errors(index, args, message) -> None:
    repo, keys = index
    result = run("init", "--repo", str(repo), "--keys-dir", str(keys), *args)
    assert result.exit_code in (1, 2) and message in result.output


def test_status_exit_codes_for_monitoring(index, tmp_path) -> None:
    repo, keys = index
    args = ["--repo", str(repo), "--keys-dir", str(keys)]
    assert run("init", *args, "--bins", "16", "--timestamp-expiry", "2h", *FAST).exit_code == 0
    result = run("status", "--repo", str(repo))
    assert result.exit_code == 3 and "tuf-pypi refresh" in result.output

    old = tmp_path / "old"
    build_index(old / "repo")
    past = datetime.now(timezone.utc) - timedelta(days=3)
    init_repository(old / "repo", old / "keys", PASSPHRASE, **OFFLINE, number_of_bins=16, now=past)
    result = run("status", "--repo", str(old / "repo"))
    assert result.exit_code == 4 and "expired" in result.output
    result = run("verify", "--repo", str(old / "repo"))
    assert result.exit_code == 1 and "expired" in result.output


def test_status_shows_where_each_key_is(index) -> None:
    repo, keys = index
    assert (
        run("init", "--repo", str(repo), "--keys-dir", str(keys), "--bins", "16", *FAST).exit_code
        == 0
    )
    (keys / "root-1.key").unlink()  # moved offline
    result = run("status", "--repo", str(repo), "--keys-dir", str(keys), "--json")
    roles = {r["role"].split(" ")[0]: r for r in json.loads(result.stdout)["roles"]}
    assert list(roles["root"]["locations"].values()) == ["not here"]
    assert all(v.startswith("file ") for v in roles["timestamp"]["locations"].values())
    assert "online.key" in next(iter(roles["bin-n"]["locations"].values()))


def test_publish_link_copies(index) -> None:
    repo, keys = index
    args = ["--repo", str(repo), "--keys-dir", str(keys)]
    assert run("init", *args, "--bins", "16", *FAST).exit_code == 0
    result = run("publish", *args, "--link-copies", "--json")
    assert result.exit_code == 0, result.output
    for path in json.loads(result.stdout)["added"]:
        page = repo / path
        copies = [p for p in page.parent.iterdir() if p.name.endswith("." + page.name)]
        assert len(copies) == 1 and copies[0].samefile(page), path
    assert run("verify", "--repo", str(repo)).exit_code == 0
