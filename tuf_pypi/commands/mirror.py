"""Commands for mirror operators: mirror sync and mirror overlay.

Only the mirror side: the ``gc`` that mirror operators also run (on the same lock)
is in :mod:`.gc`, with the repository-side collector it needs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from tuf.api.metadata import Metadata

from .. import layout
from ..client import ClientError
from ..client.errors import UnavailableError
from ..mirror import SyncOptions, SyncReport, overlay_mirror, sync_mirror
from ..objectstore import ObjectStoreURL, push_tree
from ._common import (
    EXIT_FAILED,
    RepoLocation,
    echo_json,
    fail_cleanly,
    format_size,
    json_option,
    lock_wait_option,
)
from ._s3 import s3_options, s3_settings

__all__ = ["COMMANDS"]

from_option = click.option(
    "--from",
    "upstream",
    required=True,
    metavar="URL",
    help="Base URL of the index (or mirror) to copy: the URL holding tuf/ and simple/.",
)
root_option = click.option(
    "--root",
    "root_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The index's root.json, obtained out of band. Needed for the first sync; later "
    "syncs trust the newest root the mirror already has. The mirror serves root versions "
    "from this one on (older ones cannot be verified from it): give 1.root.json to serve "
    "every version.",
)
mirror_state_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Lock and sync state, outside the mirror (default: .<name>.tuf-pypi beside it). "
    "Give 'tuf-pypi gc' the same --state-dir.",
)
jobs_option = click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Downloads at once.",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
no_gzip_option = click.option(
    "--no-gzip", is_flag=True, help="Do not write N.<role>.json.gz siblings."
)


def _served_timestamp(directory: Path) -> str:
    try:
        data = (directory / layout.METADATA_DIR / "timestamp.json").read_bytes()
        return f"timestamp v{Metadata.from_bytes(data).signed.version}"
    except (OSError, ValueError, KeyError, TypeError):
        return "no timestamp (nothing to serve yet)"


def _run_sync(
    operation: Callable[..., SyncReport],
    upstream: str,
    directory: Path,
    root_file: Path | None,
    options: SyncOptions,
    *,
    quiet: bool,
    as_json: bool,
    no_wait: bool,
) -> SyncReport:
    """Run ``sync_mirror`` or ``overlay_mirror`` into ``directory`` and report it.

    On a refusal, say what the mirror still serves, then exit 1; with ``--json``
    print the report, otherwise a one-line summary.
    """
    before = _served_timestamp(directory)
    try:
        report = operation(
            upstream,
            directory,
            root=root_file.read_bytes() if root_file else None,
            options=options,
            progress=None if quiet or as_json else (lambda line: click.echo(line, err=True)),
            wait_for_lock=not no_wait,
        )
    except ClientError as exc:
        click.echo(f"error: {_explain(upstream, exc)}", err=True)
        click.echo(f"error: {directory} is unchanged: it still serves {before}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        echo_json(report.to_dict())
    else:
        _summary(report, directory)
    return report


def _explain(upstream: str, exc: ClientError) -> str:
    """The error in one line; an upstream with no TUF metadata at all (pypi.org today)
    is told as that, with what to do instead."""
    text = str(exc)
    if isinstance(exc, UnavailableError) and "/tuf/timestamp.json" in text and "404" in text:
        return (
            f"{upstream} serves no TUF metadata (no tuf/timestamp.json), so there is "
            "nothing to copy; to give your clients TUF over a bandersnatch mirror, sign "
            "it yourself (docs/mirror.md, section 1)"
        )
    return text


def _summary(report: SyncReport, directory: Path) -> None:
    if report.switched:
        state = f"timestamp v{report.previous_timestamp or 0} -> v{report.timestamp}"
    else:
        state = f"up to date at timestamp v{report.timestamp}"
    click.echo(
        f"{directory}: {state}; copied {_metadata_count(report)} metadata files, "
        f"{len(report.pages)} page copies, {len(report.files)} files "
        f"({format_size(report.file_bytes)}); {report.files_present} files already there"
    )
    if report.live_pages_removed:
        click.echo(f"removed {len(report.live_pages_removed)} pages gone upstream")
    if report.unverifiable:
        click.echo(
            f"warning: {len(report.unverifiable)} links have no sha256; no client can "
            "verify them, so they were not copied",
            err=True,
        )
    if report.outside_packages:
        click.echo(
            f"note: {len(report.outside_packages)} links point outside packages/; clients "
            "fetch those from the link's own URL",
            err=True,
        )


def _metadata_count(report: SyncReport) -> int:
    return len(report.roles) + len(report.roots) + (1 if report.switched else 0)


def _projects(names: tuple[str, ...]) -> frozenset[str] | None:
    if not names:
        return None
    projects = set()
    for name in names:
        try:
            projects.add(layout.project_name(name.strip()))
        except layout.LayoutError as e:
            raise click.BadParameter(str(e), param_hint="--project") from None
    return frozenset(projects)


@click.group()
def mirror() -> None:
    """Copy a signed index to a mirror that clients can verify (see docs/mirror.md)."""


@mirror.command()
@from_option
@click.option(
    "--to",
    "dest",
    type=RepoLocation(),
    required=True,
    help="The mirror directory (created if missing); serve it with nginx/tuf-pypi.conf. "
    "Or s3://BUCKET/PREFIX: synced into --s3-work-dir, then uploaded in the same "
    "order (immutable objects first, timestamp.json last).",
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="NAME",
    help="Mirror only this project (repeatable; normalized). Default: every project.",
)
@root_option
@mirror_state_option
@click.option("--no-packages", is_flag=True, help="Copy metadata and pages only, not the files.")
@no_gzip_option
@jobs_option
@lock_wait_option
@quiet_option
@json_option
@s3_options
@fail_cleanly
def sync(
    upstream: str,
    dest: Path | ObjectStoreURL,
    projects: tuple[str, ...],
    root_file: Path | None,
    state_dir: Path | None,
    no_packages: bool,
    no_gzip: bool,
    jobs: int,
    no_wait: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Copy the signed index at --from to --to, verifying everything first.

    Copies the TUF metadata verbatim (the root chain, timestamp, snapshot and every
    role file it names), the signed page copies and the files the pages link to
    under packages/. Everything is verified before it becomes reachable, and
    timestamp.json is replaced last, so clients of the mirror never see a half
    synced state; on any failure the mirror keeps serving what it served before
    (exit 1). Incremental: only what changed since the last sync is fetched. Run
    it from cron; run 'tuf-pypi gc' on the mirror daily.
    """
    bucket = dest if isinstance(dest, ObjectStoreURL) else None
    if bucket is not None:
        s3 = s3_settings(bucket)
        dest = s3["work"]
    options = SyncOptions(
        projects=_projects(projects),
        packages=not no_packages,
        compress=not no_gzip and bucket is None,  # a CDN compresses; S3 does not negotiate
        jobs=jobs,
        state_dir=state_dir,
    )
    flags = {"quiet": quiet, "as_json": as_json, "no_wait": no_wait}
    _run_sync(sync_mirror, upstream, dest, root_file, options, **flags)
    if bucket is not None:
        pushed = push_tree(dest, s3["store"], purge_command=s3["purge_command"])
        if not as_json:
            click.echo(
                f"{bucket}: uploaded {len(pushed.written)} objects, deleted "
                f"{len(pushed.deleted)}, {pushed.unchanged} already there"
            )


@mirror.command()
@from_option
@click.option(
    "--web",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="bandersnatch's web/ directory (holding simple/ and packages/).",
)
@root_option
@mirror_state_option
@no_gzip_option
@jobs_option
@lock_wait_option
@quiet_option
@json_option
@fail_cleanly
def overlay(
    upstream: str,
    web: Path,
    root_file: Path | None,
    state_dir: Path | None,
    no_gzip: bool,
    jobs: int,
    no_wait: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Make a bandersnatch mirror usable by TUF clients.

    bandersnatch regenerates the pages it serves, so they are not the bytes the
    index signed. This adds the upstream's signed metadata (tuf/) and its signed
    page copies (simple/<p>/<sha256>.index.*) for the projects present under
    --web/simple/, verified. bandersnatch's own pages and packages/ are not
    touched; TUF clients read the signed copies and fetch files from packages/.
    Run it after each bandersnatch run.
    """
    options = SyncOptions(compress=not no_gzip, jobs=jobs, state_dir=state_dir)
    flags = {"quiet": quiet, "as_json": as_json, "no_wait": no_wait}
    report = _run_sync(overlay_mirror, upstream, web, root_file, options, **flags)
    if not as_json and report.missing_files:
        click.echo(
            f"note: {len(report.missing_files)} files on signed pages are not in "
            f"{web}/packages/ yet; clients fetch those from the link's own URL",
            err=True,
        )


COMMANDS = [mirror]
