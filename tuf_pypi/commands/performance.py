"""Sizing and scaling commands: ``plan`` (bin count) and ``rebin``."""

from __future__ import annotations

from pathlib import Path

import click

from ..repository.planner import plan as make_plan
from ..repository.rebin import rebin as rebin_repository
from ._common import (
    echo_json,
    fail_cleanly,
    json_option,
    keys_option,
    open_publisher,
    repo_option,
)
from ._progress import progress_bars, wants_progress
from .repository import state_option, wait_option


@click.command()
@click.option("--projects", type=click.IntRange(min=1), required=True, help="Expected projects.")
@click.option("--files", type=click.IntRange(min=0), help="Expected files (informative).")
@click.option(
    "--uploads",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Uploads between two refreshes of a typical client (for warm-client bytes).",
)
@json_option
@fail_cleanly
def plan(projects: int, files: int | None, uploads: int, as_json: bool) -> None:
    """Compare bin counts: snapshot and bin sizes, client bytes; recommend one."""
    result = make_plan(projects, files, uploads_between_refreshes=uploads)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"{projects} projects, {result.targets} page targets")
    click.echo(
        f"{'bins':>7} {'pages/bin':>9} {'snapshot':>10} {'(gzip)':>9} {'bin':>9} {'(gzip)':>8}"
        f" {'cold':>9} {'(gzip)':>9} {'warm':>9} {'(gzip)':>9}"
    )
    for r in result.candidates:
        mark = " <" if r.bins == result.recommended else ""
        click.echo(
            f"{r.bins:>7} {r.targets_per_bin:>9.1f} {_kb(r.snapshot_bytes):>10} "
            f"{_kb(r.snapshot_gzip):>9} {_kb(r.bin_bytes):>9} {_kb(r.bin_gzip):>8} "
            f"{_kb(r.cold_bytes):>9} {_kb(r.cold_gzip):>9} {_kb(r.warm_bytes):>9} "
            f"{_kb(r.warm_gzip):>9}{mark}"
        )
    click.echo(f"recommended: {result.reason}")


def _kb(n: int) -> str:
    return f"{n / 1000:.1f}K"


@click.command()
@repo_option
@keys_option
@state_option
@wait_option
@click.option(
    "--bins",
    "number_of_bins",
    type=click.IntRange(min=2),
    required=True,
    help="New number of hash bins (a power of two; see 'tuf-pypi plan').",
)
@json_option
@fail_cleanly
def rebin(
    repo: Path,
    keys_dir: Path,
    state_dir: Path | None,
    no_wait: bool,
    number_of_bins: int,
    as_json: bool,
) -> None:
    """Change the number of hash bins of a live repository.

    Needs the OFFLINE bins key in --keys-dir (its key file, or its signer URI in
    signers.json) besides the online key: the new bin count is part of the bins
    role. Bring the key to the publishing machine for this command only, and
    move it offline again afterwards. Writes every target into the new bins (at
    versions above any version of those names ever published), bins N+1, one
    snapshot and one timestamp, under the publisher lock; clients move over on
    their next refresh. Old bin names stay listed in the snapshot, emptied.
    """
    publisher = open_publisher(repo, keys_dir, state_dir, wait=not no_wait, quiet=as_json)
    with progress_bars(wants_progress(as_json)) as bars:
        report = rebin_repository(publisher, number_of_bins, progress=bars)
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(
        f"rebinned {report.targets} targets: {report.old_bins} -> {report.new_bins} bins "
        f"(bins v{report.bins_version}, {report.bins_signed} bins signed, "
        f"{report.retired} retired), snapshot v{report.snapshot_version}, "
        f"timestamp v{report.timestamp_version}"
    )


COMMANDS = [plan, rebin]
