"""Where a repository's keys and publisher state live: one lookup order, one config file.

Cron lines and upload hooks run from any directory, so a key directory that
silently defaulted to ``./keys`` made them sign nothing (or create a stray
``keys/``). The key directory of a repository is found, in this order:

1. ``--keys-dir`` on the command line;
2. the environment variable ``TUF_PYPI_KEYS_DIR``;
3. the repository's entry in the configuration file (below);
4. ``./keys`` in the current directory (what ``init`` uses when told nothing).

The configuration file is ``$TUF_PYPI_REPOSITORIES`` if set, else the first that exists
of ``$XDG_CONFIG_HOME/tuf-pypi/repositories.toml`` (``~/.config/...``) and
``/etc/tuf-pypi/repositories.toml``. It has one table per repository, keyed by the
repository's absolute path, and never lives inside a served tree. (It is the publishing
host's file, not the installers' configuration of ``tuf-pypi proxy`` and ``run``.)::

    [repository."/srv/pypi/web"]
    keys_dir = "/etc/tuf-pypi/pypi-keys"      # relative paths: to this file
    state_dir = "/var/lib/tuf-pypi/pypi"      # optional (default: keys_dir)

Nothing here creates a directory: only ``init`` and ``key generate`` make a key
directory. Every path handed back says where it came from, so an error can name
both the path that was looked in and why it was looked in.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SettingError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DEFAULT_KEYS_DIR",
    "KEYS_DIR_ENV",
    "REPOSITORIES_ENV",
    "ConfigError",
    "RepositoryConfig",
    "config_file",
    "repository_config",
]

KEYS_DIR_ENV = "TUF_PYPI_KEYS_DIR"
REPOSITORIES_ENV = "TUF_PYPI_REPOSITORIES"
DEFAULT_KEYS_DIR = Path("keys")
_SYSTEM_CONFIG = Path("/etc/tuf-pypi/repositories.toml")


class ConfigError(SettingError):
    """The configuration file cannot be used; the message names the file."""


@dataclass(frozen=True)
class RepositoryConfig:
    """The key and state directories of one repository, and where each was found."""

    keys_dir: Path
    #: "--keys-dir", "TUF_PYPI_KEYS_DIR", "<config file>" or "the default ./keys".
    keys_source: str
    state_dir: Path | None = None

    def describe_keys_dir(self) -> str:
        """``/abs/keys (from --keys-dir)``: for messages that must name the path looked in."""
        return f"{self.keys_dir.absolute()} (from {self.keys_source})"


def config_file(environ: dict[str, str] | None = None) -> Path | None:
    """The configuration file in use, or None. ``$TUF_PYPI_REPOSITORIES`` must exist if set."""
    env = os.environ if environ is None else environ
    named = env.get(REPOSITORIES_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{REPOSITORIES_ENV}={named}: no such file")
        return path
    home = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    for path in (Path(home) / "tuf-pypi" / "repositories.toml", _SYSTEM_CONFIG):
        if path.is_file():
            return path
    return None


def _entry(file: Path, repo: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(file.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{file}: cannot be read as TOML ({e})") from None
    tables = data.get("repository", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{file}: 'repository' must be a table of tables")
    wanted = repo.resolve()
    for key, entry in tables.items():
        if Path(key).expanduser().resolve() == wanted:
            if not isinstance(entry, dict):
                raise ConfigError(f"{file}: [repository.{key!r}] must be a table")
            return entry
    return None


def _path(file: Path, entry: dict[str, Any], name: str) -> Path | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{file}: {name} must be a non-empty string")
    return (file.parent / Path(value).expanduser()).absolute()


def repository_config(
    repo: Path | None,
    keys_dir: Path | None,
    keys_source: str | None,
    environ: dict[str, str] | None = None,
) -> RepositoryConfig:
    """Resolve the key directory of ``repo`` in the documented order (see module doc).

    ``keys_dir``/``keys_source`` are what the command line (or ``TUF_PYPI_KEYS_DIR``,
    which click reads) gave, if anything. The configuration file is read only when
    needed, and a ``state_dir`` found there is returned as well.
    """
    entry: dict[str, Any] | None = None
    file = config_file(environ) if repo is not None else None
    if file is not None and repo is not None:
        entry = _entry(file, repo)
        if entry is not None and file.resolve().is_relative_to(repo.resolve()):
            raise ConfigError(f"{file} is inside the repository {repo}: it would be served")
    state_dir = _path(file, entry, "state_dir") if file and entry else None
    if keys_dir is not None:
        return RepositoryConfig(keys_dir, keys_source or "--keys-dir", state_dir)
    configured = _path(file, entry, "keys_dir") if file and entry else None
    if configured is not None:
        return RepositoryConfig(configured, str(file), state_dir)
    return RepositoryConfig(DEFAULT_KEYS_DIR, "the default ./keys", state_dir)
