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

from .. import layout
from ..keys import OFFLINE_PASSPHRASE_ENV, PASSPHRASE_ENV, KeyDirectory, KeyFileError
from ..objectstore import ObjectStoreError, ObjectStoreURL, is_object_store_url
from ..pages import PageError
from ..repository import Publisher, StorageError
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
    """Expected failures print one line and exit 1: no traceback, no secrets."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except tuple(EXPECTED_ERRORS) as e:
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
    default=Path("keys"),
    show_default=True,
    envvar="TUF_PYPI_KEYS_DIR",
    help="Key files, signers.json and settings; never inside --repo. [env TUF_PYPI_KEYS_DIR]",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def check_keys_outside(repo: Path | ObjectStoreURL, keys_dir: Path) -> None:
    if isinstance(repo, ObjectStoreURL):
        local = local_tree(repo)  # a bucket never holds the key directory; its pages may
        if local is None:
            return
        repo = local
    if keys_dir.resolve().is_relative_to(repo.resolve()):
        raise ValueError(
            f"--keys-dir {keys_dir} is inside --repo {repo}: it would be served to anyone"
        )


#: Exceptions that are the user's data or setup, not a bug: shown as one line.
EXPECTED_ERRORS: list[type[Exception]] = [
    KeyFileError,
    StorageError,
    layout.LayoutError,
    PageError,
    ValueError,
    ObjectStoreError,
]

#: Client-side options shared by ``download`` and ``proxy``.
mirrors_option = click.option(
    "--mirror",
    "mirrors",
    metavar="URL",
    multiple=True,
    required=True,
    help="Base URL of an untrusted copy of the index (serving tuf/, simple/, packages/). "
    "Repeat for failover; tried in the order given.",
)
pinned_root_option = click.option(
    "--root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The pinned trusted root.json. Trust starts here, never from the network.",
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


def open_publisher(
    repo: Path | ObjectStoreURL,
    keys_dir: Path,
    state_dir: Path | None = None,
    wait: bool = True,
    link_copies: bool = False,
) -> Publisher:
    """A publisher for ``repo`` with the keys and expiry settings of ``keys_dir``.

    Passphrases are asked for (or read from the environment) only when a key file
    has to be opened.
    """
    check_keys_outside(repo, keys_dir)
    keys = KeyDirectory(
        keys_dir,
        passphrase=passphrase,
        offline_passphrase=lambda label: passphrase(label, env=OFFLINE_PASSPHRASE_ENV),
    )
    storage = open_storage(repo)
    return Publisher(
        storage.root,
        keys,
        storage=storage,
        state_dir=state_dir,
        expiry=load_expiry(keys_dir),
        wait_for_lock=wait,
        link_copies=link_copies,
    )
