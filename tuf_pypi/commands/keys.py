"""Commands for key holders and ceremonies: key, root/targets/bins prepare|apply, sign, recover.

A ceremony is prepare (on the repository machine) -> sign (each key holder, on
their own machine, after reading the diff) -> apply (on the repository machine,
merging the signed copies). See docs/ceremony.md for the runbook.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from tuf.api.metadata import Metadata

from .. import layout
from ..keys import (
    OFFLINE_KDF,
    OFFLINE_PASSPHRASE_ENV,
    ONLINE_KDF,
    PASSPHRASE_ENV,
    KeyDirectory,
    KeyFileError,
    generate_key_file,
    load_key_file_signer,
    load_public_key,
    public_key_document,
    read_public_key,
)
from ..repository import RepositoryView, load_view
from ..repository.ceremony import (
    CeremonyError,
    Proposal,
    check_key_ids,
    describe_change,
    payload_sha256,
    prepare_bins,
    prepare_root,
    prepare_targets,
    sign_proposal,
)
from ..repository.publisher import utcnow
from ..repository.rotation import apply_proposals, read_proposals, restore_bins
from ..repository.settings import load_expiry
from ..repository.signing_keys import expected_signers
from . import _common
from ._common import (
    DURATION,
    echo_json,
    fail_cleanly,
    json_option,
    keys_option,
    open_publisher,
    passphrase,
    repo_option,
)
from ._s3 import open_storage

__all__ = ["COMMANDS"]


key_file_type = click.Path(dir_okay=False, exists=True, path_type=Path)
out_option = click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Proposal file to write (hand it to the key holders).",
)


def _describe(key: Any, location: str | None = None) -> dict[str, Any]:
    info = public_key_document(key)
    if location is not None:
        info["location"] = location
    return info


# -- key ------------------------------------------------------------------------------


@click.group()
def key() -> None:
    """Create, list and inspect keys; register HSM-held keys."""


@key.command("generate")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="New key file."
)
@click.option(
    "--type",
    "keytype",
    type=click.Choice(["ed25519", "ecdsa"]),
    default="ed25519",
    show_default=True,
    help="ecdsa is P-256.",
)
@click.option(
    "--online",
    is_flag=True,
    help="An online key (for publishing): its passphrase comes from TUF_PYPI_PASSPHRASE "
    "and it is cheaper to open.",
)
@fail_cleanly
def key_generate(out: Path, keytype: str, online: bool) -> None:
    """Create an encrypted key file (mode 0600) and print its key id (its fingerprint).

    An offline key (the default: root, targets, bins) is sealed under the passphrase
    from TUF_PYPI_OFFLINE_PASSPHRASE or a prompt, with Argon2id's "sensitive" limits
    (1 GiB, seconds to open); --online keys under TUF_PYPI_PASSPHRASE with the
    "interactive" limits. Refuses to overwrite. Share the public half with
    'tuf-pypi key show FILE --json > FILE.pub'.
    """
    env, limits = (PASSPHRASE_ENV, ONLINE_KDF) if online else (OFFLINE_PASSPHRASE_ENV, OFFLINE_KDF)
    secret = passphrase(str(out), confirm=True, env=env)
    public = generate_key_file(out, secret, keytype, limits=limits)
    click.echo(f"{out}: {public.keytype} key {public.keyid}")


@key.command("list")
@keys_option
@json_option
@fail_cleanly
def key_list(keys_dir: Path | None, as_json: bool) -> None:
    """List the key files and external signers (HSM, KMS) in --keys-dir."""
    keys_dir = _common.resolve_keys_dir(None, keys_dir).keys_dir
    keys = KeyDirectory(keys_dir)
    rows = [_describe(public, f"file {file}") for file, public in keys.key_files()]
    signers_file = keys_dir / "signers.json"
    for keyid, uri in keys.external_signers().items():
        rows.append({"keyid": keyid, "location": uri, "source": str(signers_file)})
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['keyid']}  {row.get('keytype', '-'):<8} {row['location']}")
    if not rows:
        click.echo(f"no keys in {keys_dir}")


@key.command("show")
@click.argument("file", type=key_file_type)
@json_option
@fail_cleanly
def key_show(file: Path, as_json: bool) -> None:
    """Show the public half of a key file or public key document (no passphrase needed).

    The keyid is checked to be the sha256 of the key value, so it is the key's
    fingerprint: the one 'tuf-pypi sign' shows for each key in a review. The --json
    output is a public key document that 'root prepare --add-key' and friends
    accept, so key holders never hand over their private key file.
    """
    public = load_public_key(file)
    if as_json:
        echo_json(public_key_document(public))
    else:
        click.echo(f"keyid:  {public.keyid} (fingerprint: sha256 of the key value)")
        click.echo(f"type:   {public.keytype}\nscheme: {public.scheme}")
        click.echo(f"public: {public.keyval.get('public')}")


@key.command("import-hsm")
@keys_option
@click.option(
    "--hsm-keyid", type=int, default=2, show_default=True, help="CKA_ID of the key on the token."
)
@click.option("--token-label", help="Label of the token (needed when several are present).")
@click.option(
    "--public-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the public key document here (for 'root prepare --online-key').",
)
@fail_cleanly
def key_import_hsm(
    keys_dir: Path, hsm_keyid: int, token_label: str | None, public_out: Path | None
) -> None:
    """Register an ECDSA key held in a PKCS#11 token (HSM) in --keys-dir/signers.json.

    Needs PYKCS11LIB (path of the PKCS#11 module, e.g. libsofthsm2.so) and the
    token's user PIN in TUF_PYPI_HSM_PIN (or a prompt) if the public key is private.
    """
    try:
        from securesystemslib.signer import HSMSigner
    except ImportError:  # pragma: no cover - depends on the extra
        raise KeyFileError("HSM support needs the hsm extra: pip install 'tuf-pypi[hsm]'") from None

    def pin(_what: str) -> str:
        value = os.environ.get("TUF_PYPI_HSM_PIN")
        return value or click.prompt("Token user PIN", hide_input=True)

    uri, public = HSMSigner.import_(hsm_keyid, token_label, pin)
    file = KeyDirectory(keys_dir).add_external_signer(uri, public)
    click.echo(f"{file}: {public.keytype} key {public.keyid} -> {uri}")
    if public_out is not None:
        public_out.write_text(_json_text(public_key_document(public)))
        click.echo(f"public key: {public_out}")


def _json_text(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# -- prepare ----------------------------------------------------------------------------


def _lifetime(repo: Path, keys_dir: Path | None, role: str, expires: timedelta | None) -> timedelta:
    if expires is not None:
        return expires
    return load_expiry(_common.resolve_keys_dir(repo, keys_dir).keys_dir).for_role(role)


def _write_proposal(
    proposal: Proposal, out: Path, current: Metadata | None, repo: Path, as_json: bool = False
) -> None:
    if out.exists():
        raise CeremonyError(f"{out} already exists; choose another --out")
    out.write_bytes(proposal.to_bytes())
    changes = describe_change(proposal.role, current.signed if current else None, proposal.signed)
    shown = repo.absolute() if isinstance(repo, Path) else repo
    next_command = f"tuf-pypi sign {out.name} --key KEYFILE --repo {shown}"
    if as_json:
        echo_json(
            {
                "out": str(out),
                "role": proposal.role,
                "version": proposal.version,
                "changes": changes,
                "next": next_command,
            }
        )
        return
    for line in changes:
        click.echo(line)
    click.echo(
        f"wrote {out}; each key holder runs: {next_command} (or --current CURRENT.json "
        "instead of --repo)"
    )


expires_option = click.option(
    "--expires",
    type=DURATION,
    help="Lifetime of the new version from now (default: the repository's setting).",
)
prepare_keys_option = click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TUF_PYPI_KEYS_DIR",
    help="Only read for the default expiry settings (found as for publish).",
)


@click.group()
def root() -> None:
    """Change root (root keys, thresholds, online/targets key, expiry) by ceremony."""


@root.command("prepare")
@repo_option
@prepare_keys_option
@click.option("--add-key", "add_keys", multiple=True, type=key_file_type, help="Key or .pub file.")
@click.option("--remove-key", "remove_keyids", multiple=True, metavar="KEYID")
@click.option("--threshold", type=click.IntRange(min=1), help="New root threshold.")
@click.option("--online-key", type=key_file_type, help="New snapshot/timestamp key.")
@click.option("--targets-key", type=key_file_type, help="New targets key.")
@expires_option
@out_option
@json_option
@fail_cleanly
def root_prepare(
    repo: Path,
    keys_dir: Path | None,
    add_keys: tuple[Path, ...],
    remove_keyids: tuple[str, ...],
    threshold: int | None,
    online_key: Path | None,
    targets_key: Path | None,
    expires: timedelta | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write root version N+1, unsigned, to --out for the root key holders to sign.

    Key options take a key file or a public key document ('key show --json').
    An online key change also needs 'bins prepare --online-key' applied with it.
    """
    current = load_view(open_storage(repo)).root
    proposal = prepare_root(
        current,
        utcnow(),
        _lifetime(repo, keys_dir, "root", expires),
        add_keys=[load_public_key(p) for p in add_keys],
        remove_keyids=remove_keyids,
        threshold=threshold,
        online_key=load_public_key(online_key) if online_key else None,
        targets_key=load_public_key(targets_key) if targets_key else None,
    )
    _write_proposal(proposal, out, current, repo, as_json)


@click.group()
def targets() -> None:
    """Change targets (its bins delegation key, expiry) by ceremony."""


@targets.command("prepare")
@repo_option
@prepare_keys_option
@click.option("--bins-key", type=key_file_type, help="New key for the bins role.")
@expires_option
@out_option
@json_option
@fail_cleanly
def targets_prepare(
    repo: Path,
    keys_dir: Path | None,
    bins_key: Path | None,
    expires: timedelta | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write targets version N+1, unsigned, to --out for the targets key holder to sign."""
    current = load_view(open_storage(repo)).targets
    bins_public = load_public_key(bins_key) if bins_key else None
    proposal = prepare_targets(
        current, utcnow(), _lifetime(repo, keys_dir, "targets", expires), bins_key=bins_public
    )
    _write_proposal(proposal, out, current, repo, as_json)


@click.group()
def bins() -> None:
    """Change bins (the online key of every bin-n, expiry) by ceremony."""


@bins.command("prepare")
@repo_option
@prepare_keys_option
@click.option("--online-key", type=key_file_type, help="New key for every bin-n.")
@expires_option
@out_option
@json_option
@fail_cleanly
def bins_prepare(
    repo: Path,
    keys_dir: Path | None,
    online_key: Path | None,
    expires: timedelta | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write bins version N+1, unsigned, to --out for the bins key holder to sign."""
    current = load_view(open_storage(repo)).bins
    online_public = load_public_key(online_key) if online_key else None
    proposal = prepare_bins(
        current, utcnow(), _lifetime(repo, keys_dir, "bins", expires), online_key=online_public
    )
    _write_proposal(proposal, out, current, repo, as_json)


# -- sign -------------------------------------------------------------------------------


def _current_of(role: str, view: RepositoryView | None, current: Path | None) -> Metadata | None:
    if current is not None:
        try:
            return Metadata.from_bytes(current.read_bytes())
        except Exception as e:  # any parse failure means the user's file is not metadata
            raise CeremonyError(f"{current}: not TUF metadata ({type(e).__name__})") from None
    if view is not None:
        return {"root": view.root, "targets": view.targets, layout.BINS_ROLE: view.bins}[role]
    return None


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_file", type=key_file_type, required=True, help="Your key file.")
@click.option(
    "--current",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The current version of the role (e.g. root.json) to diff against.",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Or: read the current version from this repository.",
)
@click.option("--yes", is_flag=True, help="Sign without asking (scripts).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (needs --yes).")
@fail_cleanly
def sign(
    file: Path, key_file: Path, current: Path | None, repo: Path | None, yes: bool, as_json: bool
) -> None:
    """Review a proposal and add your signature to FILE (in place).

    Shows what changes against the current version (keys added, removed or changed
    in value, thresholds, expiry, version), every key by its fingerprint and the
    sha256 of the bytes you sign, and asks for confirmation before opening the key
    (passphrase from TUF_PYPI_OFFLINE_PASSPHRASE or a prompt). Refuses a proposal
    or current version that lists a key under an id that is not its fingerprint.
    Warns when the key is not one whose signature counts for the role.
    """
    if as_json and not yes:
        raise click.UsageError("--json needs --yes (there is no one to ask)")
    proposal = Proposal.from_bytes(file.read_bytes(), str(file))
    view = load_view(open_storage(repo)) if repo is not None else None
    before = _current_of(proposal.role, view, current)
    if before is not None and before.signed.type != proposal.metadata.signed.type:
        raise CeremonyError(f"{current}: is {before.signed.type}, the proposal is {proposal.role}")
    changes = describe_change(proposal.role, before.signed if before else None, proposal.signed)
    if not as_json:
        for line in changes:
            click.echo(line)
    if before is not None:
        check_key_ids(f"current {proposal.role}", before.signed)
    check_key_ids(f"proposed {proposal.role}", proposal.signed)
    public = read_public_key(key_file)
    warning = _signer_warning(proposal, before, view, public.keyid)
    if not as_json:
        click.echo(f"signing with {key_file} (key {public.keyid})")
        if warning:
            click.echo(f"warning: {warning}", err=True)
    if not yes and not click.confirm("Sign this?", default=False):
        raise click.Abort()
    signer = load_key_file_signer(key_file, passphrase(str(key_file), env=OFFLINE_PASSPHRASE_ENV))
    sign_proposal(proposal, signer)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_bytes(proposal.to_bytes())
    os.replace(tmp, file)
    count = len(proposal.metadata.signatures)
    if as_json:
        echo_json(
            {
                "file": str(file),
                "role": proposal.role,
                "version": proposal.version,
                "keyid": public.keyid,
                "signatures": count,
                "changes": changes,
                "warning": warning,
            }
        )
    else:
        click.echo(f"{file}: {count} signature(s)")


def _signer_warning(
    proposal: Proposal, before: Metadata | None, view: RepositoryView | None, keyid: str
) -> str | None:
    expected = expected_signers(proposal.role, proposal.metadata, before, view)
    if expected is None or keyid in expected:
        return None
    return (
        f"key {keyid[:16]}... is not one of the keys of role {proposal.role} "
        f"({', '.join(sorted(k[:16] + '...' for k in expected))}); 'apply' will not count "
        "this signature unless the same ceremony makes it one. Check --key."
    )


# -- apply, recover -------------------------------------------------------------------


def _apply_command(role: str) -> Callable[..., None]:
    @click.command("apply")
    @repo_option
    @keys_option
    @click.argument(
        "files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
    )
    @json_option
    @fail_cleanly
    def apply(repo: Path, keys_dir: Path, files: tuple[Path, ...], as_json: bool) -> None:
        proposals = read_proposals(list(files))
        if role not in proposals:
            raise CeremonyError(f"none of the files is a {role} proposal")
        # The keys checked are the new metadata's, by apply itself: not the current ones.
        publisher = open_publisher(repo, keys_dir, check_keys=False, quiet=as_json)
        report = apply_proposals(publisher, proposals)
        if as_json:
            echo_json(report.__dict__)
            return
        for name, version in report.applied.items():
            payload = payload_sha256(proposals[name].signed)
            click.echo(f"applied {name} v{version} (signed bytes sha256 {payload})")
        if report.timestamp_version is not None:
            click.echo(
                f"re-signed {report.bins_resigned} bins, snapshot v{report.snapshot_version}, "
                f"timestamp v{report.timestamp_version}"
            )

    apply.help = (
        f"Merge the signed copies of a {role} proposal and publish it.\n\n"
        "Refused unless every threshold is met (old and new root for root), saying "
        "which key ids are missing. Proposals for other roles of the same ceremony "
        "(root + targets + bins) may be given together and are applied at once; the "
        "online roles are then re-signed with the keys the new metadata names."
    )
    return apply


for _group, _role in ((root, "root"), (targets, "targets"), (bins, layout.BINS_ROLE)):
    _group.add_command(_apply_command(_role))


@click.command()
@repo_option
@keys_option
@click.option(
    "--known-good-snapshot",
    type=click.IntRange(min=1),
    required=True,
    help="Version of the last snapshot published before the compromise.",
)
@json_option
@fail_cleanly
def recover(repo: Path, keys_dir: Path, known_good_snapshot: int, as_json: bool) -> None:
    """After a compromise: restore every bin to a known-good snapshot and re-sign it.

    Run after the compromised keys were replaced (root/bins apply). Every bin gets
    a higher version signed by the current online key, then a new snapshot and
    timestamp. See docs/ceremony.md, "Compromise recovery".
    """
    report = restore_bins(open_publisher(repo, keys_dir, quiet=as_json), known_good_snapshot)
    if as_json:
        echo_json(report.__dict__)
        return
    click.echo(
        f"restored snapshot v{known_good_snapshot}: {report.targets_restored} targets put back, "
        f"{report.targets_removed} removed, {report.bins_resigned} bins re-signed, "
        f"snapshot v{report.snapshot_version}, timestamp v{report.timestamp_version}"
    )
    for copy in report.missing_copies:
        click.echo(f"missing page copy {copy}: restore it from backup", err=True)


COMMANDS = [key, root, targets, bins, sign, recover]
