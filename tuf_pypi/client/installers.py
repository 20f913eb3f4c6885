"""Point pip and uv at the verifying proxy, and only at it.

An installer told ``--index-url <proxy>`` still reads its own configuration, and an
``extra-index-url`` in ``/etc/pip.conf`` (or ``find-links``, or a ``[[tool.uv.index]]``
in a project) makes it install from there *unverified*, next to the proxy. So
``tuf-pypi run`` builds the wrapped command's environment here:

* pip reads ``PIP_*`` variables after every config file and every section, so
  ``PIP_INDEX_URL`` and ``PIP_EXTRA_INDEX_URL`` name the proxy, and ``PIP_FIND_LINKS``
  an empty directory: whatever any layer said is replaced. (An empty value would not
  do: pip ignores empty variables.)
* uv *adds* configured indexes to those given by environment or command line, so an
  index in any uv configuration layer cannot be replaced, only switched off:
  ``UV_NO_CONFIG=1`` when one of them names an index or find-links (uv then ignores
  all of its configuration files for this command; said so). ``UV_DEFAULT_INDEX`` and
  ``UV_INDEX_URL`` name the proxy.
* ``PIP_*``/``UV_*`` index variables of the caller's environment are dropped, and
  loopback is exempted from any HTTP proxy (``no_proxy``). ``UV_CONFIG_FILE`` is the
  one file uv then reads, so it is the one checked, and dropped if it names an index
  (uv reads it even with ``UV_NO_CONFIG``).

Every override is returned as a line to show the user: nothing is silent. Options on
the command line itself (``--extra-index-url``, ``-f``, ``--index``) are the user's
explicit choice; they are not changed, but warned about, as are such lines in the
requirement files the command names (``-r``/``-c``, and the files those include).
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "Setting",
    "bypassing_arguments",
    "bypassing_requirement_lines",
    "installer_environment",
    "pip_settings",
    "uv_settings",
]

#: pip configuration keys (normalized) that send it to another index or location.
PIP_KEYS = ("index-url", "extra-index-url", "find-links")
#: uv configuration keys that do the same (top level, ``[pip]``, or ``[tool.uv]``).
UV_KEYS = ("index", "index-url", "extra-index-url", "find-links", "default-index")
_PIP_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")
_UV_ENV = (
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)
#: Command-line options that name an index or a location of files.
_BYPASS_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--index",
    "--default-index",
)


@dataclass(frozen=True)
class Setting:
    """``key = value`` in ``source`` (a file, with its section, or an environment variable)."""

    tool: str
    source: str
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.tool}: {self.key} = {self.value} (from {self.source})"


def pip_settings(environ: Mapping[str, str]) -> list[Setting]:
    """Index settings in every pip configuration file pip would read (any section)."""
    found: list[Setting] = []
    for path in _pip_files(environ):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue  # pip itself will complain about a broken file
        for section in parser.sections():
            for name, value in parser.items(section):
                key = name.lower().replace("_", "-").removeprefix("--")
                if key in PIP_KEYS and value.strip():
                    source = f"{path} [{section}]"
                    found.append(Setting("pip", source, key, " ".join(value.split())))
    return found


def uv_settings(environ: Mapping[str, str], cwd: Path) -> list[Setting]:
    """Index settings in the uv configuration files uv would discover."""
    found: list[Setting] = []
    for path in _uv_files(environ, cwd):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if path.name == "pyproject.toml":
            data = data.get("tool", {}).get("uv", {})
        for table, where in ((data, ""), (data.get("pip", {}), "pip.")):
            if not isinstance(table, dict):
                continue
            for key in UV_KEYS:
                if key in table:
                    found.append(Setting("uv", str(path), where + key, _show(table[key])))
    return found


def bypassing_arguments(command: Sequence[str]) -> list[str]:
    """Options in ``command`` that name another index or find-links location."""
    found = []
    for arg in command:
        name = arg.split("=", 1)[0]
        if name in _BYPASS_OPTIONS or (name.startswith("-f") and name != "-f" and len(name) > 2):
            found.append(arg)
    return found


def bypassing_requirement_lines(command: Sequence[str], cwd: Path) -> list[str]:
    """Lines of the requirement files ``command`` names (``-r``, ``-c``, and the files
    they include) that name another index or find-links location: pip applies those
    over its environment, so ``run`` can only warn about them."""
    pending = [
        cwd / name
        for name in _option_values(command, ("-r", "--requirement", "-c", "--constraint"))
    ]
    seen: set[Path] = set()
    found: list[str] = []
    while pending:
        path = Path(os.path.normpath(pending.pop(0)))
        if path in seen or len(seen) > 100:
            continue
        seen.add(path)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] in ("-r", "--requirement", "-c", "--constraint") and len(words) > 1:
                pending.append(path.parent / words[1])
            elif bypassing_arguments(words[:1]):
                found.append(f"{path}: {line.strip()}")
    return found


def _option_values(command: Sequence[str], names: tuple[str, ...]) -> list[str]:
    values = []
    for i, arg in enumerate(command):
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                values.append(value)
            elif i + 1 < len(command):
                values.append(command[i + 1])
    return values


def installer_environment(
    index_url: str, empty_dir: Path, environ: Mapping[str, str], cwd: Path
) -> tuple[dict[str, str], list[str]]:
    """The wrapped command's environment, and one line per thing it overrides."""
    env = dict(environ)
    notes: list[str] = []
    for name in (*_PIP_ENV, *_UV_ENV):
        value = env.pop(name, None)
        if value:
            notes.append(f"ignoring {name}={value} from the environment")
    notes += [f"overriding {s}" for s in pip_settings(environ)]
    uv_found = uv_settings(environ, cwd)
    if uv_found:
        notes += [f"overriding {s}" for s in uv_found]
        notes.append("uv: ignoring its configuration files for this command (UV_NO_CONFIG=1)")
        env["UV_NO_CONFIG"] = "1"
        env.pop("UV_CONFIG_FILE", None)  # uv would read it even with UV_NO_CONFIG
    env.update(
        PIP_INDEX_URL=index_url,
        PIP_EXTRA_INDEX_URL=index_url,
        PIP_FIND_LINKS=str(empty_dir),
        UV_DEFAULT_INDEX=index_url,
        UV_INDEX_URL=index_url,
    )
    loopback = "127.0.0.1,localhost,::1"
    for name in ("no_proxy", "NO_PROXY"):
        env[name] = f"{env[name]},{loopback}" if env.get(name) else loopback
    return env, notes


# -- where each tool looks -------------------------------------------------------------


def _pip_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files: global, user, site, then ``PIP_CONFIG_FILE``."""
    dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / "pip.conf" for d in dirs.split(os.pathsep) if d]
    files.append(Path("/etc/pip.conf"))
    home = environ.get("HOME")
    config_home = environ.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else None)
    if home:
        files.append(Path(home) / ".pip" / "pip.conf")
    if config_home:
        files.append(Path(config_home) / "pip" / "pip.conf")
    for prefix in (environ.get("VIRTUAL_ENV"), sys.prefix):
        if prefix:
            files.append(Path(prefix) / "pip.conf")
    if environ.get("PIP_CONFIG_FILE") and environ["PIP_CONFIG_FILE"] != os.devnull:
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    return [path for path in dict.fromkeys(files) if path.is_file()]


def _uv_files(environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """uv's: ``UV_CONFIG_FILE``, or the project's, the user's and the system's."""
    if environ.get("UV_CONFIG_FILE"):
        return [p for p in (Path(environ["UV_CONFIG_FILE"]),) if p.is_file()]
    files: list[Path] = []
    here = cwd.resolve()
    for directory in (here, *here.parents):
        candidates = [directory / "uv.toml", directory / "pyproject.toml"]
        project = [p for p in candidates if p.is_file() and _is_uv_config(p)]
        if project:
            files.append(project[0])
            break
    home = environ.get("HOME")
    config_home = environ.get("XDG_CONFIG_HOME") or (f"{home}/.config" if home else None)
    if config_home:
        files.append(Path(config_home) / "uv" / "uv.toml")
    dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files += [Path(d) / "uv" / "uv.toml" for d in dirs.split(os.pathsep) if d]
    files.append(Path("/etc/uv/uv.toml"))
    return [path for path in dict.fromkeys(files) if path.is_file()]


def _is_uv_config(path: Path) -> bool:
    if path.name == "uv.toml":
        return True
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "uv" in tool


def _show(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("url", value))
    return str(value)
