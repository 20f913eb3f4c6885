"""Pieces every command module shares: exit codes, option types, error handling.

Exit codes (also in docs/cli.md):
  0  success
  1  failure: nothing or not everything was done, or verify found problems
  2  usage error (bad option or argument)
  3  partly done: publish skipped pages it could not sign / status: a role expires soon
  4  status: a role has expired
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from ..client.config import (
    CONFIG_ENV,
    DEFAULT_TIMEOUT,
    Settings,
    config_files,
    load_config,
    parse_size,
    resolve,
)
from ..client.errors import SetupError
from ..client.health import DEFAULT_BUDGET
from ..config import KEYS_DIR_ENV, ConfigError, RepositoryConfig, repository_config
from ..errors import TufPypiError
from ..keys import OFFLINE_PASSPHRASE_ENV, PASSPHRASE_ENV, KeyDirectory, KeyFileError
from ..objectstore import ObjectStoreURL, is_object_store_url
from ..repository import Publisher, RepositoryStorage, load_view
from ..repository.online_keys import missing_online_keys
from ..repository.settings import load_expiry
from ._s3 import local_tree, open_storage, s3_options

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_EXPIRED = 0, 1, 2, 3, 4
F = TypeVar("F", bound=Callable[..., Any])

_DURATION = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class Duration(click.ParamType):
    """``7d``, ``12h``, ``1d12h``, ``90m``, ``3600s`` or ``2w``."""

    name = "DURATION"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration like 7d, 12h, 1d12h, 30m or 3600s", param, ctx)
        return timedelta(**{_UNITS[u]: int(n) for n, u in parts})


DURATION = Duration()


def fail_cleanly(func: F) -> F:
    """tuf-pypi's own errors print one line and exit 1: no traceback, no secrets.

    Only those: anything else is a bug, and its traceback is what a report needs.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EXPECTED_ERRORS as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def passphrase(label: str, confirm: bool = False, env: str = PASSPHRASE_ENV) -> str:
    """The secret from ``env`` (the online key's by default) or a prompt on a terminal."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise KeyFileError(f"{label}: passphrase needed; set {env} or run interactively")
    return click.prompt(f"Passphrase for {label}", hide_input=True, confirmation_prompt=confirm)


def echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


class RepoLocation(click.ParamType):
    """A directory, or ``s3://BUCKET/PREFIX`` (an :class:`ObjectStoreURL`)."""

    name = "DIR|s3://BUCKET/PREFIX"

    def convert(self, value: Any, param: Any, ctx: Any) -> Path | ObjectStoreURL:
        if isinstance(value, (Path, ObjectStoreURL)):
            return value
        if is_object_store_url(value):
            try:
                return ObjectStoreURL.parse(value)
            except ValueError as e:
                self.fail(str(e), param, ctx)
        return Path(value)


def repo_option(func: F) -> F:
    """``--repo`` (a directory or an ``s3://`` URL) and the object store options."""
    func = s3_options(func)
    return click.option(
        "--repo",
        type=RepoLocation(),
        required=True,
        help="Index root: the directory holding simple/ (and tuf/ once initialised), "
        "or s3://BUCKET/PREFIX for a repository in an object store (see the --s3-* "
        "options; credentials come from the usual AWS environment and config files).",
    )(func)


keys_option = click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=KEYS_DIR_ENV,
    help="Key files, signers.json and settings; never inside --repo. Default: "
    "$TUF_PYPI_KEYS_DIR, else the repository's keys_dir in the config file "
    "(docs/repository.md, 'Where the keys are'), else ./keys.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def check_outside(label: str, path: Path, repo: Path) -> None:
    """Refuse a path holding secrets (``label`` names the option) inside the served tree."""
    if path.resolve().is_relative_to(repo.resolve()):
        raise ConfigError(f"{label} is inside --repo {repo}: it would be served to anyone")


def check_keys_outside(repo: Path | ObjectStoreURL, keys_dir: Path) -> None:
    if isinstance(repo, ObjectStoreURL):
        local = local_tree(repo)  # a bucket never holds the key directory; its pages may
        if local is None:
            return
        repo = local
    check_outside(f"--keys-dir {keys_dir}", keys_dir, repo)


#: What the commands show as one line: every error tuf-pypi raises on purpose, the
#: repository side's (``RepoError``), the client side's (``ClientError``) and broken
#: layout or page rules (``InputError``), all of them ``TufPypiError``.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (TufPypiError,)

#: Client-side options shared by ``download``, ``proxy`` and ``run``; mirrors and root
#: may come from the configuration file instead (see :func:`client_settings`).
mirrors_option = click.option(
    "--mirror",
    "mirrors",
    metavar="URL",
    multiple=True,
    help="Base URL of an untrusted copy of the index (serving tuf/, simple/, packages/). "
    "Repeat for failover; tried in the order given. Default: mirrors from the "
    "configuration file.",
)
pinned_root_option = click.option(
    "--root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The pinned trusted root.json. Trust starts here, never from the network. "
    "Default: root from the configuration file.",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    help="Read only this configuration file. Default: the nearest tuf-pypi.toml, then "
    "~/.config/tuf-pypi/tuf-pypi.toml, then /etc/tuf-pypi/tuf-pypi.toml. "
    f"[env {CONFIG_ENV}]",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait to connect to a mirror, and between reads, before trying the "
    f"next. [default: {DEFAULT_TIMEOUT:g}, or timeout from the configuration file]",
)


def read_root(path: Path) -> bytes:
    """The pinned root's bytes (checked by the client: see ``Client``)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SetupError(f"cannot read the pinned root {path}: {exc}") from exc


def client_settings(
    mirrors: tuple[str, ...],
    root: Path | None,
    config_file: Path | None,
    *,
    say: str | None = None,
    **options: Any,
) -> Settings:
    """The options, completed from the configuration files (docs/proxy.md); with ``say``
    (a prefix), tells on stderr which file the mirrors and the root came from."""
    settings = resolve(mirrors, root, load_config(config_files(config_file)), **options)
    if say is not None:
        for note in settings.notes:
            click.echo(f"{say} {note}", err=True)
    return settings


def cache_option(what: str) -> Callable[[F], F]:
    """``--cache DIR`` of the client commands; ``what`` says what the directory holds."""
    return click.option(
        "--cache",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="TUF_PYPI_CACHE",
        help=f"{what} Default: ~/.cache/tuf-pypi/<hash of the root> (private to the user). "
        "[env TUF_PYPI_CACHE]",
    )


link_copies_option = click.option(
    "--link-copies",
    is_flag=True,
    help="Make each <sha256>.index.* copy a hard link to its page instead of writing "
    "the bytes again (much faster at scale). Only for trees whose pages are always "
    "replaced by rename (bandersnatch, Warehouse exports, this publisher), never edited "
    "in place: an edit in place would change the signed copy too, and clients would "
    "refuse the page until the next publish.",
)


def resolve_keys_dir(repo: Path | ObjectStoreURL | None, keys_dir: Path | None) -> RepositoryConfig:
    """The key (and state) directory for ``repo``: option, environment, config file, ./keys.

    Reads the click context to tell ``--keys-dir`` from ``TUF_PYPI_KEYS_DIR``, so an
    error can say why a path was looked in.
    """
    source = None
    ctx = click.get_current_context(silent=True)
    if keys_dir is not None and ctx is not None:
        from_env = ctx.get_parameter_source("keys_dir") == click.core.ParameterSource.ENVIRONMENT
        source = KEYS_DIR_ENV if from_env else "--keys-dir"
    # The config file names local index roots; a bucket has none (give --keys-dir).
    return repository_config(repo if isinstance(repo, Path) else None, keys_dir, source)


def existing_keys_dir(repo: Path | ObjectStoreURL, keys_dir: Path | None) -> RepositoryConfig:
    """Like :func:`resolve_keys_dir`, but the directory must exist: it is never created
    here (only ``init`` and ``key generate`` make one), so a cron job started in the
    wrong directory fails at once, naming the path it looked in."""
    if isinstance(repo, Path):  # a bucket is checked when it is opened
        RepositoryStorage(repo).newest_root_version()  # a typo'd --repo is named first
    config = resolve_keys_dir(repo, keys_dir)
    check_keys_outside(repo, config.keys_dir)
    if not config.keys_dir.is_dir():
        raise KeyFileError(
            f"no key directory at {config.describe_keys_dir()}: give --keys-dir, set "
            f"{KEYS_DIR_ENV}, or add the repository to the config file "
            "(see docs/repository.md, 'Where the keys are')"
        )
    return config


def lock_dir_of(repo: Path, keys_dir: Path | None) -> Path:
    """Where ``publish.lock`` is when no ``--state-dir`` was given: the configured state
    directory, else the key directory, which must exist (it is never created here)."""
    config = resolve_keys_dir(repo, keys_dir)
    return config.state_dir or existing_keys_dir(repo, keys_dir).keys_dir


def keys_args(repo: Path, keys_dir: Path | None) -> str:
    """``--repo R --keys-dir K`` with absolute paths, for commands printed as advice.

    ``KEYS_DIR`` stands in for a key directory that is not on this machine (or not
    known here): a path that does not exist would look runnable and fail.
    """
    shown = repo.absolute() if isinstance(repo, Path) else repo
    return f"--repo {shown} --keys-dir {advice_keys_dir(repo, keys_dir)}"


def advice_keys_dir(repo: Path, keys_dir: Path | None) -> str:
    """The key directory as printed advice names it: absolute, or ``KEYS_DIR``."""
    keys = resolve_keys_dir(repo, keys_dir).keys_dir
    return str(keys.absolute()) if keys.is_dir() else "KEYS_DIR"


def lock_wait_line(lock_file: Path) -> None:
    """The line a command prints when it starts waiting for the publisher lock."""
    click.echo(f"waiting for the publisher lock {lock_file} (held by another publish)...", err=True)


# The --no-wait of gc and mirror sync/overlay, which take the lock a publish takes.
lock_wait_option = click.option(
    "--no-wait",
    is_flag=True,
    help="Fail at once if a publish, sync or gc holds the lock, instead of waiting.",
)


def open_publisher(
    repo: Path | ObjectStoreURL,
    keys_dir: Path | None,
    state_dir: Path | None = None,
    wait: bool = True,
    link_copies: bool = False,
    *,
    check_keys: bool = True,
    quiet: bool = False,
) -> Publisher:
    """A publisher for ``repo`` with the keys and expiry settings of its key directory.

    The key directory must exist, and (with ``check_keys``) hold a threshold of keys
    for every online role (timestamp, snapshot, the bins), so a missing key fails
    before anything is scanned rather than at the first real change. Passphrases are
    asked for (or read from the environment) only when a key file has to be opened.
    A line goes to stderr when the publisher lock is busy, unless ``quiet``.
    """
    config = existing_keys_dir(repo, keys_dir)
    keys = KeyDirectory(
        config.keys_dir,
        passphrase=passphrase,
        offline_passphrase=lambda label: passphrase(label, env=OFFLINE_PASSPHRASE_ENV),
    )
    storage = open_storage(repo)
    if check_keys:
        missing = missing_online_keys(load_view(storage), keys)
        if missing:
            raise KeyFileError(
                f"no key in {config.describe_keys_dir()} for {'; '.join(missing)}: copy the "
                f"online key file there or list it in signers.json"
            )
    publisher = Publisher(
        storage.root,
        keys,
        storage=storage,
        state_dir=state_dir or config.state_dir,
        expiry=load_expiry(config.keys_dir),
        wait_for_lock=wait,
        link_copies=link_copies,
    )
    if not quiet:
        publisher.on_lock_wait = lock_wait_line
    return publisher


class Size(click.ParamType):
    """``500MB``, ``2GiB``, ``1.5G`` or a number of bytes (see ``client.config.parse_size``)."""

    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = Size()


def format_size(n: int) -> str:
    """``n`` bytes for a summary line: ``512 B``, ``1.5 MB`` (1024-based), up to GB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


cache_max_size_option = click.option(
    "--cache-max-size",
    type=SIZE,
    help="Bound the cached files and pages (e.g. 2GiB): the least recently used files "
    "are deleted first, then page copies; the trusted metadata never is. Default: no bound.",
)

total_timeout_option = click.option(
    "--total-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one request may spend across mirrors: once over, no further mirror is "
    "tried (the one in progress is bounded by --timeout). Mirrors that are down or hung "
    f"are remembered and tried last for a while. [default: {DEFAULT_BUDGET:g}]",
)
