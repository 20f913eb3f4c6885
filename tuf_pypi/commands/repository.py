"""Commands for index admins: init, publish, refresh, status, verify."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from securesystemslib.signer import Signer

from .. import layout
from ..config import KEYS_DIR_ENV
from ..keys import (
    KDF_LIMITS,
    OFFLINE_KDF,
    OFFLINE_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    KeyDirectory,
    OfflineSigners,
    load_key_file_signer,
    require_distinct_passphrases,
)
from ..metrics import Registry
from ..repository import (
    Expiry,
    StorageError,
    VerifyReport,
    init_repository,
    load_view,
    repository_status,
    verify_repository,
)
from ..repository.bootstrap import check_can_init
from ..repository.publisher import utcnow
from ..repository.status_metrics import StatusGauges
from ._common import (
    DURATION,
    EXIT_EXPIRED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    advice_keys_dir,
    check_keys_outside,
    echo_json,
    fail_cleanly,
    json_option,
    keys_args,
    keys_option,
    link_copies_option,
    open_publisher,
    passphrase,
    repo_option,
    resolve_keys_dir,
)
from ._progress import progress_bars, wants_progress
from ._s3 import open_storage

__all__ = ["COMMANDS"]


@click.command()
@repo_option
@keys_option
@click.option("--bins", type=int, help="Number of hash bins (a power of two).")
@click.option(
    "--expected-projects",
    type=click.IntRange(min=1),
    help="Pick the bin count for an index of this many projects (~64 projects per bin).",
)
@click.option(
    "--root-keys",
    type=click.IntRange(1, 64),
    help="n: root keys to create (default 1, or as many as --root-key files).",
)
@click.option(
    "--root-threshold",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="t: root signatures needed.",
)
@click.option(
    "--timestamp-expiry",
    type=DURATION,
    default="1d",
    show_default=True,
    help="Lifetime of timestamp signatures.",
)
@click.option(
    "--snapshot-expiry",
    type=DURATION,
    default="7d",
    show_default=True,
    help="Lifetime of snapshot signatures.",
)
@click.option(
    "--bin-expiry",
    type=DURATION,
    default="7d",
    show_default=True,
    help="Lifetime of bin-n signatures.",
)
@click.option(
    "--offline-expiry",
    type=DURATION,
    default="365d",
    show_default=True,
    help="Lifetime of root, targets and bins.",
)
@click.option(
    "--root-key",
    "root_key_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A root key file its holder made with 'tuf-pypi key generate' (repeat for each "
    "holder; needs --targets-key and --bins-key). init then creates only the online key.",
)
@click.option(
    "--targets-key",
    "targets_key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The targets holder's key file (with --root-key).",
)
@click.option(
    "--bins-key",
    "bins_key_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The bins holder's key file (with --root-key).",
)
@click.option(
    "--kdf-limits",
    type=click.Choice(sorted(KDF_LIMITS)),
    default=OFFLINE_KDF.name,
    show_default=True,
    help="Argon2id cost of the offline key files init creates (sensitive: 1 GiB and "
    "seconds per open). Lower only for throwaway keys.",
)
@json_option
@fail_cleanly
def init(
    repo: Path,
    keys_dir: Path | None,
    bins: int | None,
    expected_projects: int | None,
    root_keys: int | None,
    root_threshold: int,
    timestamp_expiry: timedelta,
    snapshot_expiry: timedelta,
    bin_expiry: timedelta,
    offline_expiry: timedelta,
    root_key_files: tuple[Path, ...],
    targets_key_file: Path | None,
    bins_key_file: Path | None,
    kdf_limits: str,
    as_json: bool,
) -> None:
    """Create keys and version 1 of all TUF metadata for the index at --repo.

    Generates root keys (t of n), a targets key and a bins key (offline: keep
    them off the publishing machine afterwards) and one online key (snapshot,
    timestamp and every bin). The online key is sealed with the passphrase from
    TUF_PYPI_PASSPHRASE (or a prompt), the offline keys with a different one from
    TUF_PYPI_OFFLINE_PASSPHRASE (or a prompt). Better: each holder makes their key
    with 'tuf-pypi key generate' and brings it (--root-key, --targets-key,
    --bins-key); init then opens each with its holder's passphrase and creates
    only the online key. Refuses to overwrite a repository or key.
    Then run 'tuf-pypi publish' to sign the pages.
    """
    if bins is not None and expected_projects is not None:
        raise click.UsageError("give --bins or --expected-projects, not both")
    number_of_bins = bins or layout.bins_for_projects(expected_projects or 50_000)
    held = bool(root_key_files or targets_key_file or bins_key_file)
    if held and not (root_key_files and targets_key_file and bins_key_file):
        raise click.UsageError("--root-key, --targets-key and --bins-key go together")
    if held and root_keys not in (None, len(root_key_files)):
        raise click.UsageError(f"--root-keys {root_keys} but {len(root_key_files)} --root-key")
    root_keys = len(root_key_files) if held else (root_keys or 1)
    if root_threshold > root_keys:
        raise click.UsageError(f"--root-threshold {root_threshold} exceeds --root-keys {root_keys}")
    keys_dir = resolve_keys_dir(repo, keys_dir).keys_dir
    check_keys_outside(repo, keys_dir)
    if isinstance(repo, Path) and not repo.is_dir():
        raise StorageError(f"{repo} is not a directory (expected an index root with simple/)")
    if isinstance(repo, Path):  # a bucket is checked when it is opened
        check_can_init(repo, keys_dir, root_keys, offline_keys_here=not held)
    expiry = Expiry(
        root=offline_expiry,
        targets=offline_expiry,
        bins=offline_expiry,
        bin_n=bin_expiry,
        snapshot=snapshot_expiry,
        timestamp=timestamp_expiry,
    )
    secret = passphrase(f"the new online key in {keys_dir}", confirm=True)
    if held:
        offline = _holder_signers(secret, root_key_files, targets_key_file, bins_key_file)
        secrets: dict[str, Any] = {"offline_signers": offline}
    else:
        label = f"the new offline keys (root, targets, bins) in {keys_dir}"
        offline_secret = passphrase(label, confirm=True, env=OFFLINE_PASSPHRASE_ENV)
        secrets = {"offline_passphrase": offline_secret, "offline_kdf": KDF_LIMITS[kdf_limits]}
    if not as_json:
        click.echo(f"Generating keys in {keys_dir} and signing {number_of_bins} bins...", err=True)
    storage = open_storage(repo)
    with progress_bars(wants_progress(as_json)) as bars:
        report = init_repository(
            storage.root,
            keys_dir,
            secret,
            number_of_bins=number_of_bins,
            now=utcnow(),
            root_keys=root_keys,
            root_threshold=root_threshold,
            expiry=expiry,
            storage=storage,
            progress=bars,
            **secrets,
        )
    next_command = f"tuf-pypi publish {keys_args(repo, keys_dir)}"
    metadata = f"{repo}/{layout.METADATA_DIR}"
    if as_json:
        echo_json(
            {
                "metadata": metadata,
                "bins": report.number_of_bins,
                "root_threshold": report.root_threshold,
                "keys_dir": str(keys_dir.absolute()),
                "key_files": {label: str(path) for label, path in report.key_files.items()},
                "next": next_command,
            }
        )
        return
    click.echo(f"Initialised {metadata} with {report.number_of_bins} bins.")
    for label, path in report.key_files.items():
        click.echo(f"  {label:<8} {path}")
    offline = (
        "The holders take their key files back"
        if held
        else "Move root-*, targets and bins key files offline"
    )
    click.echo(
        f"Next: {next_command}\n"
        f"{offline}; publishing needs only online.key "
        f"and {PASSPHRASE_ENV}, never {OFFLINE_PASSPHRASE_ENV}."
    )
    if isinstance(repo, Path):  # the config file names local index roots
        click.echo(
            "To leave out --keys-dir from now on, set TUF_PYPI_KEYS_DIR or write this to "
            "~/.config/tuf-pypi/repositories.toml:\n"
            f'  [repository."{repo.resolve()}"]\n  keys_dir = "{keys_dir.resolve()}"'
        )


def _holder_signers(
    online_secret: str, root_files: tuple[Path, ...], targets_file: Path, bins_file: Path
) -> OfflineSigners:
    """Open the key files the holders brought, each with its holder's passphrase."""

    def open_key(file: Path, role: str) -> Signer:
        secret = passphrase(f"{file} ({role} key holder)", env=OFFLINE_PASSPHRASE_ENV)
        require_distinct_passphrases(online_secret, [secret])
        return load_key_file_signer(file, secret)

    return OfflineSigners(
        root=tuple(open_key(file, "root") for file in root_files),
        targets=open_key(targets_file, "targets"),
        bins=open_key(bins_file, "bins"),
    )


state_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the publisher lock lives (default: --keys-dir). Never inside --repo.",
)
wait_option = click.option(
    "--no-wait", is_flag=True, help="Fail at once if another publisher holds the lock."
)


@click.command()
@repo_option
@keys_option
@state_option
@wait_option
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="NAME",
    help="Only this project (repeatable; names are normalized). Default: every page.",
)
@link_copies_option
@json_option
@fail_cleanly
def publish(
    repo: Path,
    keys_dir: Path,
    state_dir: Path | None,
    no_wait: bool,
    projects: tuple[str, ...],
    link_copies: bool,
    as_json: bool,
) -> None:
    """Sign new and changed pages under --repo/simple/ with the online key.

    Writes <sha256>.index.* copies, re-signs only the bins whose pages changed,
    then one snapshot and one timestamp. Pages that are gone lose their
    targets. Bad pages are reported and left unsigned (exit 3). Running it
    again with nothing changed writes nothing.
    """
    publisher = open_publisher(repo, keys_dir, state_dir, not no_wait, link_copies, quiet=as_json)
    with progress_bars(wants_progress(as_json)) as bars:
        report = publisher.publish(
            projects or None, progress=bars.pages("scanning pages") if bars else None
        )
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(
            f"pages: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed, {report.unchanged} unchanged"
        )
        if report.wrote_metadata:
            click.echo(
                f"signed: {len(report.bins_signed)} bins, snapshot v{report.snapshot_version}, "
                f"timestamp v{report.timestamp_version}"
            )
        else:
            click.echo("nothing changed: no metadata written")
        for path in report.repaired:
            click.echo(f"repaired missing copy of {path}")
        for path in report.edited_in_place:
            click.echo(
                f"warning: {path} was edited in place, which also changed its previously "
                "signed copy (a hard link to it); clients on the previous snapshot refuse "
                "it until they update. Its new copy is a separate file. Write pages by "
                "rename, or publish without --link-copies.",
                err=True,
            )
        if report.unverifiable:
            click.echo(
                f"warning: {len(report.unverifiable)} pages have links without a sha256; "
                "clients will refuse those files:"
            )
            for path, count in sorted(report.unverifiable.items()):
                click.echo(f"  {path}: {count} links")
        for skipped in report.skipped:
            click.echo(f"skipped {skipped.source}: {skipped.reason}", err=True)
    if report.skipped:
        sys.exit(EXIT_PARTIAL)


@click.command()
@repo_option
@keys_option
@state_option
@wait_option
@click.option(
    "--within",
    type=DURATION,
    default="12h",
    show_default=True,
    help="Re-sign online roles that expire within this window.",
)
@json_option
@fail_cleanly
def refresh(
    repo: Path,
    keys_dir: Path,
    state_dir: Path | None,
    no_wait: bool,
    within: timedelta,
    as_json: bool,
) -> None:
    """Re-sign online roles (bins, snapshot, timestamp) that expire soon. For cron.

    Versions are bumped so clients accept the new signatures. Uses only the
    online key; offline roles are reported by 'tuf-pypi status'.
    """
    publisher = open_publisher(repo, keys_dir, state_dir, wait=not no_wait, quiet=as_json)
    report = publisher.refresh(within)
    if as_json:
        echo_json(
            {
                "resigned": report.resigned,
                "snapshot_version": report.snapshot_version,
                "timestamp_version": report.timestamp_version,
            }
        )
    elif report.resigned:
        click.echo(f"re-signed {len(report.resigned)} roles; timestamp v{report.timestamp_version}")
    else:
        click.echo(f"nothing expires within {within}: no metadata written")


@click.command()
@repo_option
@click.option(
    "--warn-within",
    type=DURATION,
    default="6h",
    show_default=True,
    help="Online roles expiring within this window count as expiring (exit 3).",
)
@click.option(
    "--offline-warn-within",
    type=DURATION,
    default="30d",
    show_default=True,
    help="Offline roles (root, targets, bins) expiring within this window count as expiring.",
)
@click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=KEYS_DIR_ENV,
    help="Also show where each private key is: a file here, an HSM, or not on this machine. "
    "(The commands printed as advice name it, or the config file's, or ./keys.)",
)
@click.option(
    "--prometheus",
    is_flag=True,
    help="Print Prometheus metrics (role expiry gauges) for node_exporter's textfile "
    "collector instead, and exit 0.",
)
@json_option
@fail_cleanly
def status(
    repo: Path,
    warn_within: timedelta,
    offline_warn_within: timedelta,
    keys_dir: Path | None,
    prometheus: bool,
    as_json: bool,
) -> None:
    """Show every role's version, expiry, keys and threshold, and target counts.

    Exits 3 when a role expires within its warning window and 4 when one has
    expired, so monitoring can alert on the exit code alone.
    """
    keys = KeyDirectory(keys_dir) if keys_dir is not None else None
    report = repository_status(
        load_view(open_storage(repo)), utcnow(), warn_within, offline_warn_within, keys
    )
    report.repo = str(repo.absolute() if isinstance(repo, Path) else repo)
    report.keys_dir = advice_keys_dir(repo, keys_dir)
    if prometheus:
        registry = Registry()
        StatusGauges(registry).update(report, utcnow())
        click.echo(registry.render(), nl=False)
        return
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(f"{'role':<36} {'ver':>6}  {'expires':<20} {'keys':<10} {'state'}")
        for role in report.roles:
            keys = f"{role.threshold}/{len(role.keyids)} {'online' if role.online else 'offline'}"
            click.echo(
                f"{role.role:<36} {role.version:>6}  {role.expires:%Y-%m-%d %H:%M:%SZ}  "
                f"{keys:<10} {role.state}"
            )
            places = role.locations or ("",) * len(role.keyids)
            for keyid, where in zip(role.keyids, places, strict=True):
                click.echo(f"{'':<4}key {keyid}" + (f"  ({where})" if where else ""))
        click.echo(
            f"bins: {report.number_of_bins} ({report.bins_with_targets} non-empty), "
            f"page targets: {report.targets}"
        )
        for line in report.advice():
            click.echo(f"action: {line}", err=True)
    sys.exit({"ok": EXIT_OK, "expiring": EXIT_PARTIAL, "expired": EXIT_EXPIRED}[report.worst])


@click.command()
@repo_option
@click.option(
    "--mirror",
    is_flag=True,
    help="Check what a mirror of someone else's index guarantees: the chain and every "
    "signed page copy. Live pages that differ from the signed ones are counted, not "
    "failed (clients never use them). Exit 0 when that holds.",
)
@click.option(
    "--files",
    "check_files",
    is_flag=True,
    help="Also check that every distribution file the signed pages list under "
    "packages/ is there with its sha256 (reads every file: slow on a big mirror).",
)
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="NAME",
    help="A partial mirror ('mirror sync --project'): expect only these projects' page "
    "copies and files (repeatable). Every signature is still checked.",
)
@click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=KEYS_DIR_ENV,
    help="Named in the publish command printed for pending pages; no key is read.",
)
@json_option
@fail_cleanly
def verify(
    repo: Path,
    mirror: bool,
    check_files: bool,
    projects: tuple[str, ...],
    keys_dir: Path | None,
    as_json: bool,
) -> None:
    """Audit the repository as a client would, from 1.root.json down to every page copy.

    Checks the root chain, every signature and threshold, versions, snapshot and
    timestamp consistency, expiry, and every signed page copy's hash and length
    (exit 1 with a list of problems otherwise). Pages under simple/ that are not
    signed in their current form are listed (exit 3): pending ones until 'tuf-pypi
    publish' runs, refused ones with the reason publish refuses them. Clients still
    get the last signed copy. With --mirror, those are counted but do not change the
    exit code: for monitoring a mirror, which has no keys.
    """
    storage = open_storage(repo, copies=True)
    if not storage.has_metadata():
        storage.newest_root_version()  # raises, saying what --repo is instead
    with progress_bars(wants_progress(as_json)) as bars:
        report = verify_repository(
            storage,
            utcnow(),
            live_pages=True,
            files=check_files,
            progress=bars,
            projects=frozenset(layout.project_name(p) for p in projects) if projects else None,
        )
    if as_json:
        echo_json({**report.to_dict(), "mode": "mirror" if mirror else "index"})
    else:
        _print_verify(report, repo, keys_dir, mirror)
    if not report.ok:
        sys.exit(EXIT_FAILED)
    if (report.pending or report.refused) and not mirror:
        sys.exit(EXIT_PARTIAL)


def _print_verify(report: VerifyReport, repo: Path, keys_dir: Path | None, mirror: bool) -> None:
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    unsigned = len(report.pending) + len(report.refused)
    if mirror:
        if unsigned:
            click.echo(
                f"note: {unsigned} live pages under simple/ differ from their signed copies "
                "(TUF clients use the signed copies; not a problem for this mirror)"
            )
    else:
        for refused in report.refused:
            click.echo(f"refused: {refused} (publish will not sign it; fix the page)")
        if report.pending:
            publish = f"tuf-pypi publish {keys_args(repo, keys_dir)}"
            for pending in report.pending:
                click.echo(f"pending: {pending}")
            click.echo(
                f"to sign the pending pages: {publish}\n"
                "(a mirror of an index you do not sign? use 'tuf-pypi verify --mirror')"
            )
    files = f", {report.files_checked} files" if report.files_checked else ""
    click.echo(
        f"{'OK' if report.ok else 'FAILED'}: {report.roles_checked} metadata files, "
        f"{report.targets_checked} targets, {report.pages_checked} pages{files} checked"
        + ("" if report.ok else f", {len(report.problems)} problems")
        + (f", {len(report.pending)} pages pending" if report.pending and not mirror else "")
        + (f", {len(report.refused)} pages refused" if report.refused and not mirror else "")
    )


COMMANDS = [init, publish, refresh, status, verify]
