"""What ``tuf-pypi run`` finds in pip's and uv's configuration layers and overrides."""

from __future__ import annotations

from pathlib import Path

from tuf_pypi.client.installers import (
    bypassing_arguments,
    bypassing_requirement_lines,
    installer_environment,
    pip_settings,
    uv_settings,
)


def test_pip_layers_user_site_and_env_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = home / ".config" / "pip" / "pip.conf"
    user.parent.mkdir(parents=True)
    user.write_text("[global]\nextra_index_url = https://a.example/simple/\n  https://b/\n")
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pip.conf").write_text("[install]\nfind-links = /wheels\n")
    env_file = tmp_path / "env.conf"
    env_file.write_text("[download]\nindex-url = https://c.example/simple/\ntimeout = 3\n")
    environ = {
        "HOME": str(home),
        "VIRTUAL_ENV": str(venv),
        "PIP_CONFIG_FILE": str(env_file),
        "XDG_CONFIG_DIRS": str(tmp_path / "none"),
    }
    found = {(s.key, s.value, s.source) for s in pip_settings(environ)}
    assert {
        ("extra-index-url", "https://a.example/simple/ https://b/", f"{user} [global]"),
        ("find-links", "/wheels", f"{venv / 'pip.conf'} [install]"),
        ("index-url", "https://c.example/simple/", f"{env_file} [download]"),
    } <= found


def test_uv_project_and_user_layers(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[[tool.uv.index]]\nname = "corp"\nurl = "https://corp/simple/"\n'
    )
    config = tmp_path / "xdg"
    (config / "uv").mkdir(parents=True)
    (config / "uv" / "uv.toml").write_text('[pip]\nextra-index-url = ["https://u/simple/"]\n')
    environ = {"XDG_CONFIG_HOME": str(config), "XDG_CONFIG_DIRS": str(tmp_path / "none")}
    found = [(s.key, s.value) for s in uv_settings(environ, project / "src")]
    assert ("index", "https://corp/simple/") in found
    assert ("pip.extra-index-url", "https://u/simple/") in found


def test_environment_overrides_and_says_so(tmp_path: Path) -> None:
    environ = {
        "PIP_EXTRA_INDEX_URL": "https://evil/simple/",
        "UV_INDEX": "https://evil2/simple/",
        "PATH": "/bin",
        "XDG_CONFIG_DIRS": str(tmp_path / "none"),
        "HOME": str(tmp_path),
    }
    env, notes = installer_environment("http://127.0.0.1:1/simple/", tmp_path, environ, tmp_path)
    assert env["PIP_INDEX_URL"] == env["PIP_EXTRA_INDEX_URL"] == "http://127.0.0.1:1/simple/"
    assert env["UV_DEFAULT_INDEX"] == "http://127.0.0.1:1/simple/" and "UV_INDEX" not in env
    assert env["PIP_FIND_LINKS"] == str(tmp_path)
    assert env["PATH"] == "/bin" and "127.0.0.1" in env["no_proxy"]
    assert "ignoring PIP_EXTRA_INDEX_URL=https://evil/simple/ from the environment" in notes
    assert "ignoring UV_INDEX=https://evil2/simple/ from the environment" in notes


def test_command_line_bypasses_are_found() -> None:
    command = ["pip", "install", "--extra-index-url=https://x/", "-f", "/w", "-r", "req.txt"]
    assert bypassing_arguments(command) == ["--extra-index-url=https://x/", "-f"]


def test_a_uv_config_file_from_the_environment_is_the_one_checked(tmp_path: Path) -> None:
    """UV_CONFIG_FILE replaces uv's discovery, so it is the file checked; naming an index,
    it is dropped (uv reads it even with UV_NO_CONFIG) and uv's configuration is off.
    Without indexes it is kept (dropping it would let uv discover files nobody checked)."""
    chosen = tmp_path / "ci-uv.toml"
    chosen.write_text('index-url = "https://ci.example/simple/"\n')
    environ = {"UV_CONFIG_FILE": str(chosen), "HOME": str(tmp_path)}
    env, notes = installer_environment("http://127.0.0.1:1/simple/", tmp_path, environ, tmp_path)
    assert "UV_CONFIG_FILE" not in env and env["UV_NO_CONFIG"] == "1"
    assert f"overriding uv: index-url = https://ci.example/simple/ (from {chosen})" in notes
    chosen.write_text('cache-dir = "/tmp/uv"\n')
    env, notes = installer_environment("http://127.0.0.1:1/simple/", tmp_path, environ, tmp_path)
    assert env["UV_CONFIG_FILE"] == str(chosen) and "UV_NO_CONFIG" not in env


def test_requirement_files_that_name_other_indexes_are_found(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "requirements.txt").write_text(
        "requests==2.0  # pinned\n-r sub/more.txt\n--extra-index-url https://other/simple/\n"
    )
    (tmp_path / "sub" / "more.txt").write_text("-f /wheels\nidna\n-r ../requirements.txt\n")
    (tmp_path / "c.txt").write_text("-i https://c/simple/\n")
    command = ["pip", "install", "-r", "requirements.txt", "--constraint=c.txt"]
    found = bypassing_requirement_lines(command, tmp_path)
    assert found == [
        f"{tmp_path / 'requirements.txt'}: --extra-index-url https://other/simple/",
        f"{tmp_path / 'c.txt'}: -i https://c/simple/",
        f"{tmp_path / 'sub' / 'more.txt'}: -f /wheels",
    ]
