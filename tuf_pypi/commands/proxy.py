"""``tuf-pypi proxy``: let unmodified pip and uv install through untrusted mirrors, verified."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click

from ..client import Limits
from ..client.cache import default_cache_dir
from ..proxy import DEFAULT_MAX_CONNECTIONS, ProxyServer
from ._common import DURATION, fail_cleanly, mirrors_option, pinned_root_option

__all__ = ["COMMANDS"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@click.command()
@mirrors_option
@pinned_root_option
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
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TUF_PYPI_CACHE",
    help="Trusted metadata and verified files (shareable with 'tuf-pypi download'). "
    "Default: ~/.cache/tuf-pypi/<hash of the root>. [env TUF_PYPI_CACHE]",
)
@click.option(
    "--refresh-interval",
    type=DURATION,
    default="5m",
    show_default=True,
    help="How long one verified view of the index is served before the TUF metadata "
    "is refreshed (on the next request after it).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to wait to connect to a mirror, and between reads, before trying the next.",
)
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
    root: Path,
    host: str,
    port: int,
    cache: Path | None,
    refresh_interval: timedelta,
    timeout: float,
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
    root_bytes = root.read_bytes()
    try:
        server = ProxyServer(
            mirrors,
            root_bytes,
            cache or default_cache_dir(root_bytes),
            host=host,
            port=port,
            refresh_interval=interval,
            limits=Limits(connect_timeout=timeout, read_timeout=timeout),
            max_connections=max_connections,
            allowed_hosts=allowed_hosts,
        )
    except OSError as exc:  # the address is in use, or not ours
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise click.ClickException(message) from None
    click.echo(f"Serving the verified index at {server.url}")
    click.echo(f"  pip install --index-url {server.url} PACKAGE")
    click.echo("Ctrl-C or SIGTERM stops it.")
    sys.stdout.flush()
    _serve_until_signalled(server)
    click.echo("Stopped.", err=True)


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
