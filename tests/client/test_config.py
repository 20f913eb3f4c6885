"""The configuration file (tuf-pypi.toml): where it is found, what wins, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuf_pypi.client import SetupError
from tuf_pypi.client.config import config_files, load_config, parse_size


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_project_file_wins_over_the_users_key_by_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = _write(
        home / ".config" / "tuf-pypi" / "tuf-pypi.toml",
        'mirrors = ["https://user.example/"]\nroot = "user-root.json"\ntimeout = 9\n',
    )
    project = _write(tmp_path / "proj" / "tuf-pypi.toml", 'mirrors = ["https://proj.example/"]\n')
    (tmp_path / "proj" / "a" / "b").mkdir(parents=True)
    files = config_files(cwd=tmp_path / "proj" / "a" / "b", environ={"HOME": str(home)})
    assert files == [project, user]
    config = load_config(files)
    assert config.mirrors == ("https://proj.example/",)
    assert config.root == user.parent / "user-root.json"  # relative to its file
    assert config.timeout == 9.0
    assert config.origin["mirrors"] == project and config.origin["root"] == user


def test_an_explicit_file_is_the_only_one(tmp_path: Path) -> None:
    _write(tmp_path / "tuf-pypi.toml", 'mirrors = ["https://proj.example/"]\n')
    chosen = _write(tmp_path / "other.toml", 'cache-max-size = "2GiB"\n')
    env = {"TUF_PYPI_CONFIG": str(chosen), "HOME": str(tmp_path)}
    assert config_files(cwd=tmp_path, environ=env) == [chosen]
    assert load_config([chosen]).cache_max_size == 2 * 1024**3
    with pytest.raises(SetupError, match="does not exist"):
        config_files(tmp_path / "missing.toml", cwd=tmp_path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('mirror = ["https://x/"]\n', "unknown key 'mirror'"),
        ('mirrors = "https://x/"\n', "mirrors: must be a non-empty list"),
        ("timeout = -1\n", "timeout: must be a positive number"),
        ('cache-max-size = "lots"\n', "cache-max-size: 'lots' is not a size"),
        ("mirrors = [\n", "is not valid TOML"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "tuf-pypi.toml", text)
    with pytest.raises(SetupError, match=message) as excinfo:
        load_config([path])
    assert str(path) in str(excinfo.value)


def test_sizes() -> None:
    assert parse_size("500MB") == 500_000_000
    assert parse_size("1.5GiB") == 1.5 * 1024**3
    assert parse_size(4096) == 4096
    with pytest.raises(SetupError, match="must be positive"):
        parse_size("0")
