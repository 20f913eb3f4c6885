"""``tuf-pypi run -- pip install ...``: one verified installer run, nothing to babysit.

Starts the verifying proxy on a free loopback port (in this process, on a thread),
points the wrapped command at it and only at it (:mod:`tuf_pypi.client.installers`),
runs the command, stops the proxy, and exits with the command's exit code. When the
command failed and the proxy refused something, it says after the command, in plain
words, which page or file was refused, by which mirror, and why: pip alone only says
"No matching distribution found" for a refused page.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from ..client import Limits
from ..client.cache import default_cache_dir
from ..client.config import Settings
from ..client.health import MirrorHealth
from ..client.installers import (
    bypassing_arguments,
    bypassing_requirement_lines,
    installer_environment,
)
from ..metrics import Registry
from ..proxy import ProxyServer, Response
from ._common import (
    EXIT_FAILED,
    cache_max_size_option,
    cache_option,
    client_settings,
    config_option,
    fail_cleanly,
    mirrors_option,
    pinned_root_option,
    read_root,
    timeout_option,
    total_timeout_option,
)
from .proxy import warm_up

__all__ = ["COMMANDS"]

_PREFIX = "tuf-pypi run:"
_REFUSED_STATUSES = (424, 503, 500)


class _Answers:
    """The proxy's app, recording every page or file it refused (for the summary)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self.refused: list[tuple[str, Response]] = []
        self._lock = threading.Lock()

    def respond(self, target: str, headers: Any) -> Response:
        response = self._app.respond(target, headers)
        if response.status in _REFUSED_STATUSES:
            with self._lock:
                self.refused.append((target, response))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@mirrors_option
@pinned_root_option
@config_option
@cache_option("Trusted metadata and verified files.")
@timeout_option
@total_timeout_option
@cache_max_size_option
@click.option("-v", "--verbose", is_flag=True, help="Log every proxy request (to stderr).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@fail_cleanly
def run(
    mirrors: tuple[str, ...],
    root: Path | None,
    config_file: Path | None,
    cache: Path | None,
    timeout: float | None,
    total_timeout: float | None,
    cache_max_size: int | None,
    verbose: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND (pip, uv, ...) with a verifying proxy as its only index.

    Starts the proxy on a free loopback port, points COMMAND at it through its
    environment (PIP_INDEX_URL, UV_DEFAULT_INDEX, ...), overriding any other index
    or find-links from pip's and uv's configuration (each override is printed), and
    stops the proxy when COMMAND ends. Exits with COMMAND's exit code; if it failed
    and the proxy refused a page or file, says which, from which mirror, and why.

    \b
    Examples:
      tuf-pypi run --mirror https://mirror.example/ --root root.json -- pip install requests
      tuf-pypi run -- uv pip install requests      # mirrors and root from tuf-pypi.toml
      tuf-pypi run -- uv sync
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format=f"{_PREFIX} %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    settings = client_settings(
        mirrors,
        root,
        config_file,
        say=_PREFIX,
        cache=cache,
        timeout=timeout,
        total_timeout=total_timeout,
        cache_max_size=cache_max_size,
    )
    sys.exit(_run(settings, list(command)))


def _run(settings: Settings, command: list[str]) -> int:
    root_bytes = read_root(settings.root)
    limits = Limits(connect_timeout=settings.timeout, read_timeout=settings.timeout)
    registry = Registry()
    health = MirrorHealth(settings.mirrors, registry=registry, budget=settings.total_timeout)
    server = ProxyServer(
        settings.mirrors,
        root_bytes,
        settings.cache or default_cache_dir(root_bytes),
        port=0,
        limits=limits,
        registry=registry,
        health=health,
        cache_max_size=settings.cache_max_size,
    )
    answers = _Answers(server.app)
    server.app = answers  # type: ignore[assignment]
    with server.start(), tempfile.TemporaryDirectory(prefix="tuf-pypi-run-") as empty:
        warm_up(server)
        env, notes = installer_environment(server.url, Path(empty), os.environ, Path.cwd())
        for note in notes:
            click.echo(f"{_PREFIX} {note}: only the verifying proxy is used", err=True)
        bypasses = bypassing_arguments(command) + bypassing_requirement_lines(command, Path.cwd())
        for where in bypasses:
            click.echo(
                f"{_PREFIX} WARNING: the command itself names another index or location "
                f"({where}): what the installer gets from there is NOT verified",
                err=True,
            )
        try:
            code = _call(command, env)
        except OSError as exc:
            click.echo(f"error: cannot run {command[0]}: {exc.strerror or exc}", err=True)
            return EXIT_FAILED
    if code != 0:
        _explain(answers.refused)
    attacks = [r for r in health.refusals if r.attack]
    if code == 0 and attacks:
        click.echo(
            f"{_PREFIX} the command succeeded, but {len(attacks)} answer(s) from a mirror "
            "were refused and fetched from another mirror (see the warnings above)",
            err=True,
        )
    return code


def _call(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` to its end; its exit code (128 + N if signal N ended it).

    Ctrl-C reaches the command too (same terminal process group): the command decides
    what to do with it, and the proxy keeps serving until it exits. SIGTERM sent to
    ``run`` is passed on to the command.
    """
    child = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.terminate())
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                continue  # the command got the same SIGINT; wait for it to finish
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 128 - code if code < 0 else code


def _explain(refused: list[tuple[str, Response]]) -> None:
    """Say which pages and files the proxy refused, once each."""
    seen: set[str] = set()
    for target, response in refused:
        if target in seen:
            continue
        seen.add(target)
        what = _what(target)
        reason = response.reason or response.body.decode(errors="replace").strip()
        click.echo(f"{_PREFIX} refused {what}: {reason}", err=True)


def _what(target: str) -> str:
    path = target.split("?", 1)[0]
    if path.startswith("/simple/"):
        return f"the page of {path.removeprefix('/simple/').strip('/')}"
    if path.startswith("/files/"):
        return f"the file {path.rsplit('/', 1)[-1]}"
    return path


COMMANDS = [run]
