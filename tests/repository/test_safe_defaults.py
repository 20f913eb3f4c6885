"""Safe defaults for admins running tuf-pypi from cron, hooks and other directories.

Every test runs the real command in a subprocess, from a directory of its own, with
a clean environment (its own HOME and XDG_CONFIG_HOME), as a cron job would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuf_pypi.localfs import exclusive_lock
from tuf_pypi.sample import build_index
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE

#: Throwaway offline keys: the cheap Argon2id limits.
FAST = ("--kdf-limits", "interactive")


class Env:
    """A shell-like place to run tuf-pypi: a cwd, an environment, the repo and keys."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.cwd = tmp_path / "elsewhere"
        self.repo = tmp_path / "srv" / "web"
        self.keys = tmp_path / "srv" / "keys"
        for d in (self.home, self.cwd):
            d.mkdir(parents=True)
        build_index(self.repo)
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "TUF_PYPI_PASSPHRASE": PASSPHRASE,
            "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE,
        }

    def run(self, *args: str, env: dict[str, str] | None = None, **kwargs):
        return subprocess.run(
            [sys.executable, "-m", "tuf_pypi.cli", *args],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            **kwargs,
        )

    def init(self) -> None:
        """``tuf-pypi init`` as the admin ran it (copied from one real run, to save time)."""
        template = _initialised()
        shutil.rmtree(self.repo)
        shutil.copytree(template / "web", self.repo, symlinks=True)
        shutil.copytree(template / "keys", self.keys)

    def write_config(self, text: str) -> Path:
        config = self.home / ".config" / "tuf-pypi" / "repositories.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text)
        return config


_TEMPLATE: list[Path] = []


def _initialised() -> Path:
    if not _TEMPLATE:
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="tuf-pypi-init-"))
        build_index(base / "web")
        result = Env.__new__(Env)
        result.cwd, result.env = base, {"PATH": os.environ["PATH"], "HOME": str(base)}
        result.env["TUF_PYPI_PASSPHRASE"] = PASSPHRASE
        result.env["TUF_PYPI_OFFLINE_PASSPHRASE"] = OFFLINE_PASSPHRASE
        web, keys = str(base / "web"), str(base / "keys")
        done = result.run("init", "--repo", web, "--keys-dir", keys, *FAST)
        assert done.returncode == 0, done.stderr
        _TEMPLATE.append(base)
    return _TEMPLATE[0]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        ["publish"],
        ["refresh"],
        ["gc"],
        ["rebin", "--bins", "32"],
        ["publisher", "--once", "--db", "sqlite:///queue.db"],
    ],
)
def test_a_publishing_command_never_creates_a_key_directory(env: Env, command) -> None:
    env.init()
    result = env.run(*command, "--repo", str(env.repo))
    assert result.returncode == 1
    assert f"no key directory at {env.cwd / 'keys'} (from the default ./keys)" in result.stderr
    assert not (env.cwd / "keys").exists()


def test_the_error_names_the_environment_variable(env: Env) -> None:
    env.init()
    missing = env.cwd / "typo-keys"
    result = env.run("publish", "--repo", str(env.repo), env={"TUF_PYPI_KEYS_DIR": str(missing)})
    assert result.returncode == 1
    assert f"no key directory at {missing} (from TUF_PYPI_KEYS_DIR)" in result.stderr
    assert not missing.exists()


def test_a_missing_online_key_fails_at_once_even_with_nothing_to_publish(env: Env) -> None:
    env.init()
    args = ["--repo", str(env.repo), "--keys-dir", str(env.keys)]
    assert env.run("publish", *args).returncode == 0
    (env.keys / "online.key").rename(env.cwd / "online.key")  # "moved offline" by mistake
    for command in ("publish", "refresh"):
        result = env.run(command, *args)
        assert result.returncode == 1, command  # was 0: "nothing changed"
        assert f"no key in {env.keys} (from --keys-dir) for role timestamp" in result.stderr
        assert "every bin-n" in result.stderr


def test_the_config_file_names_keys_and_state_per_repository(env: Env) -> None:
    env.init()
    state = env.cwd.parent / "state"
    env.write_config(f'[repository."{env.repo}"]\nkeys_dir = "{env.keys}"\nstate_dir = "{state}"\n')
    result = env.run("publish", "--repo", str(env.repo))
    assert result.returncode == 0, result.stderr
    assert "8 added" in result.stdout
    assert (state / "publish.lock").exists() and not (env.keys / "publish.lock").exists()
    assert env.run("gc", "--repo", str(env.repo), "--dry-run").returncode == 0
    # another repository is not affected by this entry
    other = env.cwd.parent / "other"
    build_index(other)
    result = env.run("init", "--repo", str(other), *FAST)
    assert result.returncode == 0 and (env.cwd / "keys" / "online.key").exists()


def test_a_config_file_inside_the_served_tree_is_refused(env: Env) -> None:
    env.init()
    config = env.repo / "tuf-pypi.toml"
    config.write_text(f'[repository."{env.repo}"]\nkeys_dir = "{env.keys}"\n')
    result = env.run("publish", "--repo", str(env.repo), env={"TUF_PYPI_REPOSITORIES": str(config)})
    assert result.returncode == 1 and "it would be served" in result.stderr


@pytest.mark.parametrize("command", ["publish", "status", "verify", "refresh"])
def test_a_typoed_repo_is_not_told_to_run_init(env: Env, command: str) -> None:
    env.init()
    typo = env.repo.parent / "wbe"
    result = env.run(command, "--repo", str(typo), "--keys-dir", str(env.keys))
    assert result.returncode == 1
    assert f"{typo} does not exist (check --repo)" in result.stderr
    assert "init" not in result.stderr
    result = env.run(command, "--repo", str(env.cwd), "--keys-dir", str(env.keys))
    assert result.returncode == 1
    assert "has no simple/ directory" in result.stderr and "init" not in result.stderr


def test_init_twice_refuses_before_generating_anything(env: Env) -> None:
    env.init()
    result = env.run("init", "--repo", str(env.repo), "--keys-dir", str(env.keys), *FAST)
    assert result.returncode == 1 and "already exists" in result.stderr
    assert "Generating" not in result.stderr
    # refused before asking for a passphrase, too
    result = env.run(
        "init",
        "--repo",
        str(env.repo),
        "--keys-dir",
        str(env.keys),
        env={"TUF_PYPI_PASSPHRASE": "", "TUF_PYPI_OFFLINE_PASSPHRASE": ""},
    )
    assert "already exists" in result.stderr and "passphrase" not in result.stderr


def test_init_json_and_its_next_command_runs_as_printed(env: Env) -> None:
    result = env.run("init", "--repo", str(env.repo), "--keys-dir", str(env.keys), *FAST, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bins"] >= 16 and set(report["key_files"]) >= {"online", "root-1"}
    assert "Generating" not in result.stderr
    cd_elsewhere = env.run(*shlex.split(report["next"])[1:])
    assert cd_elsewhere.returncode == 0, cd_elsewhere.stderr


def test_fix_it_commands_run_as_printed(env: Env) -> None:
    env.init()
    # verify: pending pages come with the publish command that signs them; a key
    # directory this machine does not have is a placeholder, not a path that fails
    result = env.run("verify", "--repo", str(env.repo))
    assert result.returncode == 3 and "--keys-dir KEYS_DIR" in result.stdout
    keys_env = {"TUF_PYPI_KEYS_DIR": str(env.keys)}
    result = env.run("verify", "--repo", str(env.repo), env=keys_env)
    assert result.returncode == 3
    line = next(x for x in result.stdout.splitlines() if x.startswith("to sign the pending"))
    printed = line.split(": ", 1)[1]
    assert f"--keys-dir {env.keys}" in printed
    assert env.run(*shlex.split(printed)[1:]).returncode == 0
    # status: an expiring online role comes with the refresh command that re-signs it
    result = env.run("status", "--repo", str(env.repo), "--warn-within", "30d")
    assert result.returncode == 3 and "refresh --repo" in result.stderr
    assert "--keys-dir KEYS_DIR" in result.stderr  # not a path that does not exist
    env.write_config(f'[repository."{env.repo}"]\nkeys_dir = "{env.keys}"\n')
    result = env.run("status", "--repo", str(env.repo), "--warn-within", "30d", "--json")
    assert result.returncode == 3
    advice = json.loads(result.stdout)["advice"]
    refresh = next(a for a in advice if "tuf-pypi refresh" in a)
    command = refresh.split(": ", 1)[1].split(" (from cron")[0]
    done = env.run(*shlex.split(command)[1:], "--within", "30d")
    assert done.returncode == 0 and "re-signed" in done.stdout


@contextlib.contextmanager
def _locked_while(env: Env, *args: str) -> Iterator[subprocess.Popen]:
    """Run tuf-pypi ``args`` while another process holds the publisher lock; the lock
    is released when the block ends."""
    released, holding = threading.Event(), threading.Event()

    def hold() -> None:
        with exclusive_lock(env.keys / "publish.lock"):
            holding.set()
            released.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    command = [sys.executable, "-m", "tuf_pypi.cli", *args, "--repo", str(env.repo)]
    proc = subprocess.Popen(
        [*command, "--keys-dir", str(env.keys)],
        cwd=env.cwd,
        env=env.env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        released.set()
        holder.join()


def test_publishing_commands_say_when_they_wait_for_the_lock(env: Env) -> None:
    env.init()
    for command, done in (("publish", "8 added"), ("gc", "deleted")):
        with _locked_while(env, command) as proc:
            line = proc.stderr.readline()
            assert f"waiting for the publisher lock {env.keys / 'publish.lock'}" in line
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and done in out, command
    # quiet under --json
    with _locked_while(env, "refresh", "--json") as proc:
        time.sleep(3)  # the command is blocked on the lock by now (it starts in ~1 s)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == "" and json.loads(out)["resigned"] == []
