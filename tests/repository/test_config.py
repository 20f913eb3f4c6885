"""tuf_pypi.config: the documented lookup order of a repository's key directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuf_pypi.config import ConfigError, config_file, repository_config


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **extra}


def test_order_option_then_config_then_default(tmp_path: Path) -> None:
    repo = tmp_path / "web"
    repo.mkdir()
    config = tmp_path / "xdg" / "tuf-pypi" / "repositories.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[repository."{repo}"]\nkeys_dir = "keys"\nstate_dir = "/var/lib/x"\n')
    env = _env(tmp_path)
    assert config_file(env) == config
    found = repository_config(repo, None, None, env)
    assert found.keys_dir == config.parent / "keys"  # relative to the file
    assert found.keys_source == str(config) and found.state_dir == Path("/var/lib/x")
    given = repository_config(repo, Path("k"), "--keys-dir", env)
    assert given.keys_dir == Path("k") and given.state_dir == Path("/var/lib/x")
    other = repository_config(tmp_path / "other", None, None, env)
    assert other.keys_dir == Path("keys") and other.keys_source == "the default ./keys"


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TUF_PYPI_REPOSITORIES=.*no such file"):
        config_file(_env(tmp_path, TUF_PYPI_REPOSITORIES=str(tmp_path / "missing.toml")))
    bad = tmp_path / "bad.toml"
    bad.write_text("[repository\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: cannot be read as TOML"):
        repository_config(tmp_path, None, None, _env(tmp_path, TUF_PYPI_REPOSITORIES=str(bad)))
    repo = tmp_path / "web"
    bad.write_text(f'[repository."{repo}"]\nkeys_dir = 3\n')
    with pytest.raises(ConfigError, match="keys_dir must be a non-empty string"):
        repository_config(repo, None, None, _env(tmp_path, TUF_PYPI_REPOSITORIES=str(bad)))
    bad.write_text(f'[repository."{tmp_path}"]\nkeys_dir = "/k"\n')  # served by tmp_path
    with pytest.raises(ConfigError, match="is inside the repository"):
        repository_config(tmp_path, None, None, _env(tmp_path, TUF_PYPI_REPOSITORIES=str(bad)))
