"""``tuf-pypi run -- pip/uv ...``: real pip and uv, run through a proxy started for them.

The wrapped installers keep the configuration layers a user has (``HOME`` and
``XDG_CONFIG_HOME`` point into the test's directory, where each test writes the
pip.conf or uv.toml it needs), so the tests see what a user would: an
``extra-index-url`` there must not be used, and ``run`` must say it overrode it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuf_pypi.testing.mirror_server import MirrorServer, Serve
from tuf_pypi.testing.signed_index import Index

from .attacks import tampered_page, tampered_wheel
from .helpers import RESOLVED, installed, output, uv_binary

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A user's home with its own config directory (empty until a test writes to it)."""
    path = tmp_path / "home"
    (path / ".config").mkdir(parents=True)
    return path


@pytest.fixture
def evil(tmp_path: Path) -> MirrorServer:
    """An index that is not verified: any request it gets is a bypass of the proxy."""
    (tmp_path / "evil").mkdir()
    server = MirrorServer(tmp_path / "evil")
    yield server
    server.stop()


def tuf_pypi_run(
    *args: str, cwd: Path, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``tuf-pypi run ARGS`` as a user runs it: their environment, minus HTTP proxies."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and k != "UV_NO_CONFIG"
    }
    environ.pop("PIP_CONFIG_FILE", None)
    environ.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), **(env or {}))
    command = [sys.executable, "-m", "tuf_pypi.cli", "run", *args]
    return subprocess.run(
        command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=240, check=False
    )


def write_config(directory: Path, mirrors: list[MirrorServer], root: Path, cache: Path) -> None:
    urls = ", ".join(f'"{m.url}"' for m in mirrors)
    (directory / "tuf-pypi.toml").write_text(
        f'mirrors = [{urls}]\nroot = "{root}"\ncache = "{cache}"\ntimeout = 5\n'
    )


def test_exit_code_and_environment(
    mirror: MirrorServer, root_file: Path, home: Path, tmp_path: Path
) -> None:
    script = (
        "import os, sys; print(os.environ['PIP_INDEX_URL'], os.environ['UV_DEFAULT_INDEX']); "
        "sys.exit(7)"
    )
    result = tuf_pypi_run(
        "--mirror", mirror.url, "--root", str(root_file), "--cache", str(tmp_path / "c"),
        "--", sys.executable, "-c", script, cwd=tmp_path, home=home,
    )  # fmt: skip
    assert result.returncode == 7, output(result)
    pip_url, uv_url = result.stdout.split()
    assert pip_url == uv_url and pip_url.startswith("http://127.0.0.1:")
    assert pip_url.endswith("/simple/")


def test_pip_with_a_config_file_and_an_extra_index_in_pip_conf(
    mirror: MirrorServer,
    evil: MirrorServer,
    root_file: Path,
    home: Path,
    tmp_path: Path,
) -> None:
    """The daily command: mirrors and root from tuf-pypi.toml; the user's pip.conf names
    an extra index and find-links, which must not be used (and run says so)."""
    pip_conf = home / ".config" / "pip" / "pip.conf"
    pip_conf.parent.mkdir()
    pip_conf.write_text(
        f"[global]\nextra-index-url = {evil.url}simple/\n[install]\nfind-links = {evil.url}links/\n"
    )
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    write_config(project, [mirror], root_file, tmp_path / "cache")
    target = tmp_path / "site"
    result = tuf_pypi_run(
        "--", *PIP, "install", "--target", str(target), "demo-app", cwd=project / "sub", home=home
    )
    assert result.returncode == 0, output(result)
    assert installed(target) == RESOLVED
    assert evil.requests == []
    assert f"mirrors from {project / 'tuf-pypi.toml'}" in result.stderr
    assert f"overriding pip: extra-index-url = {evil.url}simple/ (from {pip_conf} [global])" in (
        result.stderr
    ), output(result)
    assert f"overriding pip: find-links = {evil.url}links/ (from {pip_conf} [install])" in (
        result.stderr
    )


@pytest.mark.parametrize("attack", [tampered_page, tampered_wheel], ids=["page", "file"])
def test_pip_refused_says_what_and_why(
    attack,
    serve: Serve,
    base_index: Index,
    newer_index: Index,
    root_file: Path,
    home: Path,
    tmp_path: Path,
) -> None:
    bad = attack(serve, base_index, newer_index).bad
    target = tmp_path / "site"
    result = tuf_pypi_run(
        "--mirror", bad.url, "--root", str(root_file), "--cache", str(tmp_path / "cache"),
        "--", *PIP, "install", "--target", str(target), "demo-app", cwd=tmp_path, home=home,
    )  # fmt: skip
    assert result.returncode == 1, output(result)
    assert installed(target) == set()
    last = result.stderr.strip().splitlines()[-1]
    what = "the page of demo-app" if attack is tampered_page else "the file demo_core-1.0"
    assert last.startswith(f"tuf-pypi run: refused {what}"), output(result)
    assert "TUF verification failed" in last and bad.url in last and "[tampered]" in last


def test_uv_with_an_extra_index_in_uv_toml_and_refusals(
    mirror: MirrorServer,
    evil: MirrorServer,
    serve: Serve,
    base_index: Index,
    newer_index: Index,
    root_file: Path,
    home: Path,
    tmp_path: Path,
) -> None:
    """uv: its uv.toml's extra index is switched off (and said so); a refused page and a
    refused file are explained after uv's own error."""
    uv_toml = home / ".config" / "uv" / "uv.toml"
    uv_toml.parent.mkdir()
    uv_toml.write_text(f'extra-index-url = ["{evil.url}simple/"]\n')
    uv = [uv_binary(), "pip", "install", "--no-cache", "--python", sys.executable]
    target = tmp_path / "site"
    common = ["--root", str(root_file), "--cache", str(tmp_path / "cache")]
    ok = tuf_pypi_run(
        "--mirror", mirror.url, *common, "--", *uv, "--target", str(target), "demo-app",
        cwd=tmp_path, home=home,
    )  # fmt: skip
    assert ok.returncode == 0, output(ok)
    assert installed(target) == RESOLVED
    assert evil.requests == []
    assert f"overriding uv: extra-index-url = {evil.url}simple/ (from {uv_toml})" in ok.stderr
    assert "UV_NO_CONFIG=1" in ok.stderr

    for attack, what in ((tampered_page, "the page of demo-app"), (tampered_wheel, "the file")):
        bad = attack(serve, base_index, newer_index).bad
        site = tmp_path / f"site-{attack.__name__}"
        cache = ["--cache", str(tmp_path / attack.__name__)]
        result = tuf_pypi_run(
            "--mirror", bad.url, "--root", str(root_file), *cache,
            "--", *uv, "--target", str(site), "demo-app", cwd=tmp_path, home=home,
        )  # fmt: skip
        assert result.returncode != 0, output(result)
        assert "424 TUF verification failed" in result.stderr  # uv's own message
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"tuf-pypi run: refused {what}"), output(result)
        assert bad.url in last and "[tampered]" in last


def test_a_signal_that_ends_the_command_is_its_exit_code(
    mirror: MirrorServer, root_file: Path, home: Path, tmp_path: Path
) -> None:
    """SIGTERM to run reaches the command; run exits 128 + 15, as a shell would."""
    script = "import os, signal; os.kill(os.getppid(), signal.SIGTERM); import time; time.sleep(30)"
    result = tuf_pypi_run(
        "--mirror", mirror.url, "--root", str(root_file), "--cache", str(tmp_path / "c"),
        "--", sys.executable, "-c", script, cwd=tmp_path, home=home,
    )  # fmt: skip
    assert result.returncode == 128 + 15, output(result)


def test_missing_mirror_or_root_is_one_clear_error(home: Path, tmp_path: Path) -> None:
    result = tuf_pypi_run("--", "true", cwd=tmp_path, home=home)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: no mirror: give --mirror")


def test_uv_sync_with_a_project_index_and_pip_download(
    mirror: MirrorServer,
    evil: MirrorServer,
    root_file: Path,
    home: Path,
    tmp_path: Path,
    base_index: Index,
) -> None:
    """``uv sync`` in a project whose pyproject.toml names its own index: that index is
    switched off (said so) and the project installs through the proxy; ``pip download``
    gets verified files."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.8"\n'
        'dependencies = ["demo-app"]\n'
        f'[[tool.uv.index]]\nname = "other"\nurl = "{evil.url}simple/"\n'
    )
    write_config(project, [mirror], root_file, tmp_path / "cache")
    synced = tuf_pypi_run(
        "--", uv_binary(), "sync", "--no-cache", "--no-install-project", "--python", sys.executable,
        cwd=project, home=home,
    )  # fmt: skip
    assert synced.returncode == 0, output(synced)
    assert evil.requests == []
    assert f"overriding uv: index = {evil.url}simple/ (from {project / 'pyproject.toml'})" in (
        synced.stderr
    )
    site = list((project / ".venv" / "lib").glob("python*/site-packages"))
    assert site and {"demo_app-1.1", "demo_lib-1.0", "demo_core-1.0"} <= installed(site[0])

    wheels = tmp_path / "wheels"
    downloaded = tuf_pypi_run(
        "--", *PIP, "download", "--no-deps", "-d", str(wheels), "demo-core==1.0",
        cwd=project, home=home,
    )  # fmt: skip
    assert downloaded.returncode == 0, output(downloaded)
    wheel = wheels / "demo_core-1.0-py3-none-any.whl"
    assert wheel.read_bytes() == base_index.wheel("demo-core")[1]
