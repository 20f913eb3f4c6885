"""Commands for scale-out publishing: the queue publisher and the queue itself.

``tuf-pypi publisher`` is the long-running process (one active, others standing by);
``tuf-pypi queue ...`` creates the queue, enqueues by hand, and shows its state.
The upload hook an index calls is a library call: see docs/pypi-integration.md.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from ..keys import KeyDirectory
from ..metrics import serve
from ..queue import BatchLimits, UploadQueue, deletion, open_queue, page_update
from ..queue.daemon import DaemonSettings, PublisherBusy, QueueDaemon
from ..queue.metrics import PublisherMetrics
from ..repository import Publisher, load_view
from ..repository.settings import load_expiry
from ._common import (
    DURATION,
    EXIT_OK,
    EXIT_PARTIAL,
    check_outside,
    echo_json,
    existing_keys_dir,
    fail_cleanly,
    json_option,
    keys_option,
    link_copies_option,
    passphrase,
    repo_option,
)
from ._s3 import open_fenced_storage, open_storage
from .repository import state_option

__all__ = ["COMMANDS"]


db_option = click.option(
    "--db",
    "db_url",
    required=True,
    envvar="TUF_PYPI_DB",
    metavar="URL",
    help="Queue database: postgresql://USER@HOST/DB (several hosts) or sqlite:///PATH "
    "(one host). [env TUF_PYPI_DB]",
)


def _seconds(label: str, default: float, help_text: str) -> click.Option:
    return click.option(
        label,
        type=click.FloatRange(min=0),
        default=default,
        show_default=True,
        metavar="SECONDS",
        help=help_text,
    )


def _check_db_outside(db_url: str, repo: Path) -> None:
    if db_url.startswith("sqlite:///"):
        check_outside(f"--db {db_url}", Path(db_url[len("sqlite:///") :]), repo)


def _open_online_key(keys: KeyDirectory, repo: Path) -> None:
    """Open the timestamp key now, so a wrong passphrase fails at start, not at a batch."""
    root = load_view(open_storage(repo)).root.signed
    role = root.roles["timestamp"]
    for keyid in role.keyids[: role.threshold]:
        keys.signer_for(root.keys[keyid], "timestamp")


@click.command()
@repo_option
@keys_option
@state_option
@db_option
@click.option("--once", is_flag=True, help="Publish everything pending, then exit (cron, tests).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most queue entries signed in one batch.",
)
@click.option(
    "--batch-bytes",
    type=click.IntRange(min=1),
    default=BatchLimits().max_bytes,
    show_default=True,
    help="Most page bytes held in one batch (a batch takes at least one entry).",
)
@_seconds("--batch-wait", 0.5, "Longest an update waits for its batch to fill up.")
@_seconds("--poll", 0.5, "How often to look for updates when idle, and for the lock on standby.")
@click.option(
    "--keep",
    type=DURATION,
    default="7d",
    show_default=True,
    help="How long published entries stay in the queue table before they are purged.",
)
@click.option(
    "--refresh-within",
    type=DURATION,
    default="12h",
    show_default=True,
    help="The active publisher re-signs online roles that expire within this window "
    "(checked every 5 minutes), so no 'tuf-pypi refresh' cron job is needed.",
)
@_seconds(
    "--lease",
    30.0,
    "A standby takes over from an active publisher that has not talked to the "
    "database for this long (paused, stuck): it ends that publisher's session, "
    "whose next write is then refused.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics endpoint listens on.",
)
@link_copies_option
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages too.")
@fail_cleanly
def publisher(
    repo: Path,
    keys_dir: Path,
    state_dir: Path | None,
    db_url: str,
    once: bool,
    batch_size: int,
    batch_bytes: int,
    batch_wait: float,
    poll: float,
    keep: timedelta,
    refresh_within: timedelta,
    lease: float,
    metrics_port: int | None,
    metrics_host: str,
    link_copies: bool,
    verbose: bool,
) -> None:
    """Publish the upload queue: sign its updates in batches, one publisher at a time.

    Takes the oldest pending updates (up to --batch-size, or whatever waited
    --batch-wait), writes their pages into --repo/simple/, signs them with one
    snapshot and one timestamp, and marks them published. Run it on several hosts
    against one PostgreSQL queue and one shared --repo: one is active, the others
    stand by and take over within seconds if it dies. Stops cleanly (after the
    current batch) on SIGTERM or Ctrl-C. The online key's passphrase comes from
    TUF_PYPI_PASSPHRASE. With --once: exit 3 if another publisher is active.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    config = existing_keys_dir(repo, keys_dir)
    keys_dir, state_dir = config.keys_dir, state_dir or config.state_dir
    if isinstance(repo, Path):
        _check_db_outside(db_url, repo)
    keys = KeyDirectory(keys_dir, passphrase=passphrase)
    _open_online_key(keys, repo)
    expiry = load_expiry(keys_dir)
    settings = DaemonSettings(
        limits=BatchLimits(max_entries=batch_size, max_bytes=batch_bytes, max_wait=batch_wait),
        poll=poll,
        keep=keep.total_seconds(),
        refresh_within=refresh_within.total_seconds(),
        lease=lease,
    )
    metrics = PublisherMetrics()
    daemon = QueueDaemon(
        lambda: open_queue(db_url, application_name="tuf-pypi publisher"),
        repo,
        lambda storage: Publisher(
            storage.root,
            keys,
            state_dir=state_dir,
            expiry=expiry,
            storage=storage,
            link_copies=link_copies,
        ),
        settings,
        metrics,
        make_storage=open_fenced_storage(repo),
    )
    server = None
    if metrics_port is not None:
        server = serve(metrics.registry, metrics_port, metrics_host)
        logging.getLogger("tuf_pypi.publisher").info(
            "metrics at http://%s:%d/metrics", metrics_host, server.port
        )
    try:
        if once:
            try:
                results = daemon.drain()
            except PublisherBusy as e:
                click.echo(f"not publishing: {e}", err=True)
                sys.exit(EXIT_PARTIAL)
            entries = sum(r.entries for r in results)
            click.echo(f"published {entries} updates in {len(results)} batches")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        daemon.run(stop)
    finally:
        if server is not None:
            server.close()


@click.group()
def queue() -> None:
    """The upload queue: create it, enqueue by hand, see what waits and who publishes."""


@queue.command("init")
@db_option
@fail_cleanly
def queue_init(db_url: str) -> None:
    """Create the queue table (if missing). The publisher and UploadQueue do it too.

    An index that enqueues through its own connection needs the table first: run
    this once, or put tuf_pypi.queue.schema_statements() in the index's migrations.
    """
    with open_queue(db_url) as db:
        db.ensure_schema()
    click.echo("queue ready")


@queue.command("enqueue")
@db_option
@click.argument("project")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="New PEP 503 HTML page (index.html) of the project.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="New PEP 691 JSON page (index.v1_json) of the project.",
)
@click.option("--delete", is_flag=True, help="The project is gone: remove both its pages.")
@fail_cleanly
def queue_enqueue(
    db_url: str, project: str, html_file: Path | None, json_file: Path | None, delete: bool
) -> None:
    """Queue new pages of PROJECT (or its deletion), as the upload hook would.

    For scripts, repairs and tests: an index calls tuf_pypi.queue.enqueue_pages
    from its upload path instead. Pages are validated before anything is queued.
    """
    if delete and (html_file or json_file):
        raise click.UsageError("give --delete, or --html/--json, not both")
    if delete:
        update = deletion(project)
    else:
        html = html_file.read_bytes() if html_file else None
        json_page = json_file.read_bytes() if json_file else None
        update = page_update(project, html=html, json=json_page)
    with UploadQueue(db_url) as upload_queue:
        entry = upload_queue.enqueue(update)
    click.echo(f"queued entry {entry}: {'deletion of ' if delete else ''}{update.project}")


@queue.command("status")
@db_option
@click.option(
    "--stuck-after",
    type=DURATION,
    default="5m",
    show_default=True,
    help="Exit 3 when the oldest pending update has waited longer than this.",
)
@json_option
@fail_cleanly
def queue_status(db_url: str, stuck_after: timedelta, as_json: bool) -> None:
    """Show pending updates, the last publish, and which publisher is active.

    Exits 3 when an update has waited longer than --stuck-after (no publisher
    running, or the active one stuck): see docs/pypi-integration.md.
    """
    with open_queue(db_url) as db:
        db.ensure_schema()
        stats = db.stats()
    stuck = stats.oldest_age is not None and stats.oldest_age > stuck_after.total_seconds()
    if as_json:
        echo_json({**stats.to_dict(), "stuck": stuck})
    else:
        oldest = "" if stats.oldest_age is None else f", oldest waiting {stats.oldest_age:.1f} s"
        click.echo(f"pending: {stats.depth} updates{oldest}")
        if stats.last_published_at is not None:
            when = datetime.fromtimestamp(stats.last_published_at, timezone.utc)
            click.echo(
                f"last published: {when:%Y-%m-%d %H:%M:%SZ}, "
                f"timestamp v{stats.last_timestamp_version}"
            )
        click.echo(f"active publisher: {stats.leader or 'none'}")
        if stuck:
            click.echo(
                f"stuck: updates have waited over {stuck_after}; check the active publisher",
                err=True,
            )
    sys.exit(EXIT_PARTIAL if stuck else EXIT_OK)


COMMANDS = [publisher, queue]
