"""Commands for installers and users: download files, verified end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ..client import AllMirrorsFailedError, Client, ClientError, Limits, VerifiedPage
from ..client.cache import default_cache_dir
from ..client.health import MirrorHealth, Refusal
from ..pages import FileLink
from ._common import (
    EXIT_FAILED,
    cache_option,
    client_settings,
    config_option,
    echo_json,
    fail_cleanly,
    json_option,
    mirrors_option,
    pinned_root_option,
    read_root,
    timeout_option,
)

__all__ = ["COMMANDS", "release_of"]


def release_of(filename: str) -> tuple[NormalizedName, Version] | None:
    """``(normalized name, version)`` of a wheel or sdist file name, else None.

    packaging's parsers, so a file belongs to the release pip and uv would say it
    does (a legacy sdist may keep ``-`` in its name: the version is the last field).
    """
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[:2]
        return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def _parse_requirement(requirement: str, filename: str | None) -> tuple[str, str | None]:
    name, eq, version = requirement.partition("==")
    name, version = name.strip(), version.strip()
    if not name or (eq and not version):
        raise click.UsageError(f"REQUIREMENT {requirement!r} is not NAME==VERSION or NAME")
    if not eq and filename is None:
        raise click.UsageError("give NAME==VERSION, or NAME with --filename FILE")
    return name, version or None


def _select(page: VerifiedPage, version: str | None, filename: str | None) -> list[FileLink]:
    if filename is not None:
        return [page.link(filename)]
    assert version is not None
    try:
        wanted = (page.project, Version(version))  # 1.0.RC1 asks for 1.0rc1's files
    except InvalidVersion:
        raise click.UsageError(f"version {version!r} is not a PEP 440 version") from None
    return [link for link in page.page.files if release_of(link.filename) == wanted]


def _versions(page: VerifiedPage) -> str:
    """The versions the page has files for, oldest first (as PEP 440 orders them)."""
    found = {r[1] for link in page.page.files if (r := release_of(link.filename)) is not None}
    return ", ".join(str(version) for version in sorted(found))


@click.command()
@mirrors_option
@pinned_root_option
@config_option
@cache_option("Trusted metadata cache (shareable between processes).")
@click.option(
    "-d",
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory the verified files are written to.",
)
@click.option("--filename", metavar="FILE", help="Download only this file of the project's page.")
@timeout_option
@json_option
@click.argument("requirement")
@fail_cleanly
def download(
    mirrors: tuple[str, ...],
    root: Path | None,
    config_file: Path | None,
    cache: Path | None,
    dest: Path,
    filename: str | None,
    timeout: float | None,
    as_json: bool,
    requirement: str,
) -> None:
    """Download the files of REQUIREMENT (NAME==VERSION), verified end to end.

    The project's page is verified through TUF from --root; each file must match
    the sha256 (and size) the verified page gives. With --filename, REQUIREMENT
    may be just NAME. Failures on one mirror move on to the next; each one is
    still reported (a WARNING line on stderr for a refused answer; "refused" in
    --json), even when another mirror then served the right bytes. Exits 0 only
    when every file was verified; 1 otherwise, with one line per failure.
    """
    name, version = _parse_requirement(requirement, filename)
    settings = client_settings(mirrors, root, config_file, cache=cache, timeout=timeout)
    root_bytes = read_root(settings.root)
    limits = Limits(connect_timeout=settings.timeout, read_timeout=settings.timeout)
    health = MirrorHealth(settings.mirrors, budget=settings.total_timeout)
    cache_dir = settings.cache or default_cache_dir(root_bytes)
    with Client(settings.mirrors, root_bytes, cache_dir, limits=limits, health=health) as client:
        page = client.page(name)
        links = _select(page, version, filename)
        if not links:
            raise ClientError(
                f"{page.target_path}: no files of {page.project} {version}; "
                f"versions on the verified page: {_versions(page) or 'none'}"
            )
        done: list[dict[str, object]] = []
        failed: list[dict[str, object]] = []
        errors: list[ClientError] = []
        for link in links:
            try:
                path = client.download(page, link, dest)
            except ClientError as exc:
                errors.append(exc)
                failed.append({"filename": link.filename, "error": str(exc), "kind": exc.kind})
                if not as_json:  # the message names the file
                    click.echo(f"error: {exc}", err=True)
                continue
            done.append({"filename": link.filename, "path": str(path), "sha256": link.sha256})
            if not as_json:
                click.echo(f"verified {path}")
        refusals = client.refusals
    refused = [refusal.as_dict() for refusal in refusals]
    if not as_json:
        _warn_hidden(refusals, errors)
    if as_json:
        echo_json({"ok": not failed, "downloaded": done, "failed": failed, "refused": refused})
    if failed:
        sys.exit(EXIT_FAILED)


def _warn_hidden(refusals: list[Refusal], errors: list[ClientError]) -> None:
    """A warning line for each refused answer that failover hid (the errors show theirs)."""
    shown = {
        id(error)
        for exc in errors
        if isinstance(exc, AllMirrorsFailedError)
        for error in exc.errors
    }
    for refusal in refusals:
        if refusal.attack and id(refusal.error) not in shown:
            click.echo(f"warning: refused {refusal}", err=True)


COMMANDS = [download]
