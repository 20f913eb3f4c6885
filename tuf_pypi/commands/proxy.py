"""``tuf-pypi proxy``: let unmodified pip and uv install through untrusted mirrors, verified."""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click

from ..client import ClientError, Limits
from ..client.cache import default_cache_dir
from ..client.health import MirrorHealth
from ..client.prefetch import preload_bins
from ..metrics import Registry
from ..proxy import DEFAULT_MAX_CONNECTIONS, ProxyServer
from ._common import (
    DURATION,
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

__all__ = ["COMMANDS"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@click.command()
@mirrors_option
@pinned_root_option
@config_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anyone who can reach it can use the proxy.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8458,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the URL is printed).",
)
@cache_option("Trusted metadata and verified files (shareable with 'tuf-pypi download').")
@click.option(
    "--refresh-interval",
    type=DURATION,
    default="5m",
    show_default=True,
    help="How long one verified view of the index is served before the TUF metadata "
    "is refreshed (on the next request after it).",
)
@timeout_option
@total_timeout_option
@cache_max_size_option
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    metavar="N",
    default=DEFAULT_MAX_CONNECTIONS,
    show_default=True,
    help="Connections served at once (a thread each); more get 503 (installers retry).",
)
@click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name installers reach the proxy by (the Host header), besides IP "
    "addresses and localhost: e.g. behind a reverse proxy. Other names get 403, so a web "
    "page cannot use the proxy through DNS rebinding. Repeatable; '*' allows any.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log every request (to stderr; control characters escaped).",
)
@fail_cleanly
def proxy(
    mirrors: tuple[str, ...],
    root: Path | None,
    config_file: Path | None,
    host: str,
    port: int,
    cache: Path | None,
    refresh_interval: timedelta,
    timeout: float | None,
    total_timeout: float | None,
    cache_max_size: int | None,
    max_connections: int,
    allowed_hosts: tuple[str, ...],
    verbose: bool,
) -> None:
    """Serve a simple repository API on HOST:PORT built only from verified data.

    Pages are verified through TUF from --root; files are served only once they
    match the sha256 of the verified page. Anything that fails verification on
    every mirror gets an error status with the reason, never the bytes. Stops
    cleanly on Ctrl-C or SIGTERM.

    \b
    Example:
      tuf-pypi proxy --mirror https://mirror.example/ --mirror https://backup.example/ \\
          --root /etc/tuf-pypi/root.json --port 8458
      pip install --index-url http://127.0.0.1:8458/simple/ requests
      uv pip install --index-url http://127.0.0.1:8458/simple/ requests

    See docs/proxy.md for pip.conf, uv.toml and a systemd unit.
    """
    interval = refresh_interval.total_seconds()
    if interval <= 0:
        raise click.BadParameter("must be longer than 0s", param_hint="--refresh-interval")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    settings = client_settings(
        mirrors,
        root,
        config_file,
        say="tuf-pypi proxy:",
        cache=cache,
        timeout=timeout,
        total_timeout=total_timeout,
        cache_max_size=cache_max_size,
    )
    root_bytes = read_root(settings.root)
    registry = Registry()
    try:
        server = ProxyServer(
            settings.mirrors,
            root_bytes,
            settings.cache or default_cache_dir(root_bytes),
            host=host,
            port=port,
            refresh_interval=interval,
            limits=Limits(connect_timeout=settings.timeout, read_timeout=settings.timeout),
            max_connections=max_connections,
            allowed_hosts=allowed_hosts,
            cache_max_size=settings.cache_max_size,
            registry=registry,
            health=MirrorHealth(settings.mirrors, registry=registry, budget=settings.total_timeout),
        )
    except OSError as exc:  # the address is in use, or not ours
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        if exc.errno == errno.EADDRINUSE:
            message += (
                f". Another program is listening on port {port} (nothing was sent to it): "
                "stop it, or choose another port with --port (--port 0 picks a free one "
                "and prints the URL)"
            )
        raise click.ClickException(message) from None
    click.echo(f"Serving the verified index at {server.url}")
    click.echo(f"  pip install --index-url {server.url} PACKAGE")
    click.echo("Ctrl-C or SIGTERM stops it.")
    sys.stdout.flush()
    warm_up(server)
    _serve_until_signalled(server)
    click.echo("Stopped.", err=True)


def warm_up(server: ProxyServer) -> threading.Thread:
    """Refresh the TUF metadata now, in the background, instead of on the first request.

    The installer's first page then does not wait for the refresh (timestamp, snapshot,
    targets) nor, on an index of few bins, for its bin (:mod:`..client.prefetch`): it
    overlaps with the installer's own start-up (uv and pip spend 0.1 to 0.5 s before
    their first request). A failure is logged and counted as any refresh is, and
    requests retry it as usual.
    """

    def refresh() -> None:
        with contextlib.suppress(ClientError):
            preload_bins(server.view().client)

    thread = threading.Thread(target=refresh, name="proxy-warm-up", daemon=True)
    thread.start()
    return thread


def _serve_until_signalled(server: ProxyServer) -> None:
    """Serve until SIGINT or SIGTERM, then let requests in progress finish and close.

    ``shutdown()`` waits for ``serve_forever()`` to return, so it cannot run in the
    signal handler (which interrupts that very loop): a thread calls it.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, name="proxy-shutdown", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    try:
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()


COMMANDS = [proxy]
