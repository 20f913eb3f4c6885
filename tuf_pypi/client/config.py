"""The client's configuration file: mirrors and the pinned root, so the daily command is short.

``tuf-pypi run -- pip install X`` needs to know which mirrors to use and which root to
trust. Typing ``--mirror`` and ``--root`` every time is what makes people skip
verification, so they can live in a TOML file (docs/proxy.md, "The configuration
file")::

    # tuf-pypi.toml
    mirrors = ["https://mirror.example/", "https://backup.example/"]
    root = "root.json"            # relative to this file
    timeout = 30                  # seconds, per connection and read
    total-timeout = 60            # seconds one request may spend across mirrors
    cache = "~/.cache/tuf-pypi/example"
    cache-max-size = "2GiB"

Files are looked up in the usual places, and a key set in an earlier file wins:

1. ``--config FILE`` or ``$TUF_PYPI_CONFIG`` (then no other file is read);
2. the project's ``tuf-pypi.toml``: in the current directory or the nearest parent;
3. the user's ``$XDG_CONFIG_HOME/tuf-pypi/tuf-pypi.toml`` (``~/.config/...``);
4. the machine's ``/etc/tuf-pypi/tuf-pypi.toml``.

Command-line options win over every file. Unknown keys and wrong types are errors that
name the file and the key (a typo must not silently drop a mirror or the root).
Paths are relative to the file that names them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import SetupError
from .health import DEFAULT_BUDGET

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAME",
    "DEFAULT_TIMEOUT",
    "Config",
    "Settings",
    "config_files",
    "load_config",
    "parse_size",
    "resolve",
]

CONFIG_NAME = "tuf-pypi.toml"
CONFIG_ENV = "TUF_PYPI_CONFIG"
SYSTEM_CONFIG = Path("/etc/tuf-pypi") / CONFIG_NAME

#: Seconds to connect to a mirror, and between reads, unless configured.
DEFAULT_TIMEOUT = 30.0

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?", re.IGNORECASE)
_NUMBER_KEYS = ("timeout", "total-timeout")
_PATH_KEYS = ("root", "cache")
_KEYS = ("mirrors", *_PATH_KEYS, *_NUMBER_KEYS, "cache-max-size")


@dataclass(frozen=True)
class Config:
    """Settings read from the configuration files; None where no file sets them.

    ``origin`` says which file set each key (for messages like "root from ...").
    """

    mirrors: tuple[str, ...] | None = None
    root: Path | None = None
    cache: Path | None = None
    timeout: float | None = None
    total_timeout: float | None = None
    cache_max_size: int | None = None
    origin: Mapping[str, Path] = field(default_factory=dict)


def config_files(
    explicit: Path | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Path]:
    """The configuration files to read, highest precedence first (existing ones only,
    except an explicit file, which must exist)."""
    env = os.environ if environ is None else environ
    chosen = explicit or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if chosen is not None:
        if not chosen.is_file():
            raise SetupError(f"configuration file {chosen} does not exist")
        return [chosen]
    here = (cwd or Path.cwd()).resolve()
    found: list[Path] = []
    for directory in (here, *here.parents):
        if (directory / CONFIG_NAME).is_file():
            found.append(directory / CONFIG_NAME)
            break
    user_base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else None
    if user_base is None and env.get("HOME"):
        user_base = Path(env["HOME"]) / ".config"
    if user_base is not None:
        found.append(user_base / "tuf-pypi" / CONFIG_NAME)
    found.append(SYSTEM_CONFIG)
    return [path for path in dict.fromkeys(found) if path.is_file()]


def load_config(files: list[Path]) -> Config:
    """The settings of ``files`` (highest precedence first), validated."""
    values: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in reversed(files):
        for key, value in _read(path).items():
            values[key], origin[key] = value, path
    return Config(
        mirrors=values.get("mirrors"),
        root=values.get("root"),
        cache=values.get("cache"),
        timeout=values.get("timeout"),
        total_timeout=values.get("total-timeout"),
        cache_max_size=values.get("cache-max-size"),
        origin=origin,
    )


@dataclass(frozen=True)
class Settings:
    """What a client command uses: its options, then the configuration files, then defaults."""

    mirrors: tuple[str, ...]
    root: Path
    cache: Path | None
    timeout: float
    total_timeout: float
    cache_max_size: int | None
    notes: tuple[str, ...] = ()


def resolve(
    mirrors: Sequence[str],
    root: Path | None,
    config: Config,
    *,
    cache: Path | None = None,
    timeout: float | None = None,
    total_timeout: float | None = None,
    cache_max_size: int | None = None,
) -> Settings:
    """Options win over the files; mirrors and a root are required from one or the other."""
    notes = []
    chosen_mirrors = tuple(mirrors) or config.mirrors
    if not chosen_mirrors:
        raise SetupError(
            "no mirror: give --mirror URL, or set mirrors in a tuf-pypi.toml (docs/proxy.md)"
        )
    if not mirrors:
        notes.append(f"mirrors from {config.origin['mirrors']}")
    chosen_root = root or config.root
    if chosen_root is None:
        raise SetupError(
            "no pinned root: give --root ROOT.json, or set root in a tuf-pypi.toml (docs/proxy.md)"
        )
    if root is None:
        notes.append(f"pinned root {chosen_root} from {config.origin['root']}")
    return Settings(
        mirrors=chosen_mirrors,
        root=chosen_root,
        cache=cache or config.cache,
        timeout=timeout or config.timeout or DEFAULT_TIMEOUT,
        total_timeout=total_timeout or config.total_timeout or DEFAULT_BUDGET,
        cache_max_size=cache_max_size or config.cache_max_size,
        notes=tuple(notes),
    )


def parse_size(text: str | int) -> int:
    """Bytes in ``"500MB"``, ``"2GiB"``, ``"1.5G"`` or a plain number (1000-based units
    without ``i``, 1024-based with it)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text <= 0:
            raise SetupError(f"size {text} must be positive")
        return text
    match = _SIZE.fullmatch(str(text).strip())
    if match is None:
        raise SetupError(f"{text!r} is not a size like 500MB, 2GiB or 1000000")
    number, unit, binary = match.groups()
    power = "KMGT".find(unit.upper()) + 1 if unit else 0
    size = int(float(number) * (1024 if binary else 1000) ** power)
    if size <= 0:
        raise SetupError(f"size {text!r} must be positive")
    return size


def _read(path: Path) -> dict[str, Any]:
    """One file's settings, checked, with paths made absolute."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SetupError(f"cannot read configuration file {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SetupError(f"configuration file {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise SetupError(
            f"configuration file {path}: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        try:
            out[key] = _check(key, value, path.parent)
        except (TypeError, ValueError) as exc:
            raise SetupError(f"configuration file {path}: {key}: {exc}") from None
    return out


def _check(key: str, value: Any, base: Path) -> Any:
    if key == "mirrors":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise TypeError("must be a non-empty list of URLs")
        return tuple(value)
    if key in _PATH_KEYS:
        if not isinstance(value, str) or not value:
            raise TypeError("must be a path (a string)")
        return base / Path(value).expanduser()
    if key in _NUMBER_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise SetupError(f"must be a positive number of seconds, not {value!r}")
        return float(value)
    assert key == "cache-max-size"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError("must be a size like 2GiB, or a number of bytes")
    return parse_size(value)
