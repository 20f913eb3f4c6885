"""The ``gc`` command: delete what no client of a served tree can still need.

Index admins run it on the repository, mirror operators on their mirrors: a mirror is
laid out exactly like the index (DESIGN §2) and takes the same lock, so one command
and one collector (:mod:`tuf_pypi.repository.gc`) serve both. It is a module of its
own so that neither area's commands carry the other's imports: the mirror commands
(:mod:`.mirror`) need only the mirror side.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from .. import layout
from ..clock import utcnow
from ..repository.gc import DEFAULT_GRACE, collect_garbage
from ._common import (
    DURATION,
    check_keys_outside,
    echo_json,
    fail_cleanly,
    format_size,
    json_option,
    lock_dir_of,
    lock_wait_line,
    lock_wait_option,
    repo_option,
)
from ._s3 import open_storage
from .repository import state_option

__all__ = ["COMMANDS"]

keys_dir_for_lock = click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TUF_PYPI_KEYS_DIR",
    help="Holds publish.lock unless --state-dir is given (no key is read); found as for "
    "publish, and never created. [env TUF_PYPI_KEYS_DIR]",
)


@click.command()
@repo_option
@click.option(
    "--grace",
    type=DURATION,
    default=f"{DEFAULT_GRACE.days}d",
    show_default=True,
    help="Keep what a snapshot superseded less than this long ago still references.",
)
@keys_dir_for_lock
@state_option
@lock_wait_option
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@json_option
@fail_cleanly
def gc(
    repo: Path,
    grace: timedelta,
    keys_dir: Path | None,
    state_dir: Path | None,
    no_wait: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete metadata and page copies that no client can still need.

    Removes N.snapshot/targets/bins/bin-X.json and simple/<p>/<sha256>.index.*
    files that no live snapshot references: a snapshot is live while it is the
    current one or was superseded less than --grace ago. Files newer than
    --grace are always kept. Never deletes a root version, root.json,
    timestamp.json, the live index pages or packages/. Takes the publisher lock
    (<state-dir or keys-dir>/publish.lock), so it never races a publish or a
    mirror sync using the same --state-dir. Run it from cron, e.g. daily.
    """
    lock_dir = state_dir or lock_dir_of(repo, keys_dir)
    check_keys_outside(repo, lock_dir)
    report = collect_garbage(
        open_storage(repo, copies=True),
        lock_dir / layout.LOCK_FILE,
        utcnow(),
        grace,
        dry_run=dry_run,
        wait_for_lock=not no_wait,
        on_lock_wait=None if as_json else lock_wait_line,
    )
    if as_json:
        echo_json(report.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for name in report.deleted_metadata:
        click.echo(f"{verb} tuf/{name}")
    for path in report.deleted_pages:
        click.echo(f"{verb} {path}")
    click.echo(
        f"{verb} {len(report.deleted_metadata)} metadata files and "
        f"{len(report.deleted_pages)} page copies ({format_size(report.bytes_freed)}); kept "
        f"{report.kept_metadata} and {report.kept_pages} (live snapshots: "
        f"{', '.join(map(str, report.live_snapshots))})"
    )


COMMANDS = [gc]
