"""The client CLI of the TUF conformance suite, on tuf-pypi's own updater and fetcher.

theupdateframework/tuf-conformance tests a TUF client by running it as::

    python -m tuf_pypi.client.conformance --metadata-dir D init TRUSTED_ROOT
    python -m tuf_pypi.client.conformance --metadata-dir D --metadata-url U refresh
    python -m tuf_pypi.client.conformance --metadata-dir D --metadata-url U \\
        --target-name P [--target-name P2 ...] --target-base-url T --target-dir TD download

and judging exit codes (0 success, 1 any failure), the metadata kept in ``D`` (under
unversioned names: ``root.json``, ``timestamp.json`` ...), the files in ``TD`` and the
requests it saw. This runs the same :class:`~.updater.MirroredUpdater` and
:class:`~.fetcher.BoundedFetcher` as :class:`tuf_pypi.client.Client`, with a single
"mirror" made of the two URLs given, so the suite exercises the code installers use.

Unlike the Client, the trust anchor here is ``D/root.json`` as ``init`` stored it
(the protocol's contract), not a root pinned in the program.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from .errors import ClientError, NotListedError
from .fetcher import BoundedFetcher
from .limits import Limits
from .mirrors import Mirror
from .updater import MirroredUpdater

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tuf_pypi.client.conformance",
        description="tuf-conformance client-under-test CLI backed by tuf-pypi's client.",
    )
    parser.add_argument("--metadata-dir", type=Path, required=True, help="Trusted metadata.")
    parser.add_argument("--metadata-url", help="Base URL of the repository's metadata.")
    parser.add_argument(
        "--target-name",
        action="append",
        default=[],
        help="Target path to download (repeatable; downloaded in order).",
    )
    parser.add_argument("--target-base-url", help="Base URL of the repository's targets.")
    parser.add_argument("--target-dir", type=Path, help="Where downloaded targets go.")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="Store the trusted root; no network.")
    init.add_argument("trusted_root", type=Path)
    commands.add_parser("refresh", help="Run the TUF refresh workflow.")
    commands.add_parser("download", help="Refresh, then download the named targets.")
    return parser


def _init(metadata_dir: Path, trusted_root: Path) -> None:
    data = trusted_root.read_bytes()
    metadata_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=metadata_dir, prefix=".root.json.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, metadata_dir / "root.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _updater(args: argparse.Namespace, parser: argparse.ArgumentParser) -> MirroredUpdater:
    if not args.metadata_url:
        parser.error(f"{args.command} needs --metadata-url")
    metadata_url = _slash(args.metadata_url)
    mirror = Mirror(
        url=metadata_url,
        metadata_url=metadata_url,
        targets_url=_slash(args.target_base_url or metadata_url),
    )
    limits = Limits()
    return MirroredUpdater(
        args.metadata_dir,
        [mirror],
        BoundedFetcher(limits),
        limits.updater_config(),
        bootstrap=None,
    )


def _download(updater: MirroredUpdater, names: Sequence[str], target_dir: Path) -> None:
    """Targets in order; the first failure stops the run. Verified copies are kept."""
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = updater.lookup(name)
        if target is None:
            raise NotListedError(f"target {name!r} is not listed in the repository")
        updater.fetch_target(target, target_dir / quote(name, safe=""))


def _slash(url: str) -> str:
    return url if url.endswith("/") else f"{url}/"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one protocol command; 0 on success, 1 on any failure (usage errors too)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "init":
            _init(args.metadata_dir, args.trusted_root)
        elif args.command == "refresh":
            _updater(args, parser).refresh()
        else:
            if not args.target_name or args.target_base_url is None or args.target_dir is None:
                parser.error("download needs --target-name, --target-base-url and --target-dir")
            _download(_updater(args, parser), args.target_name, args.target_dir)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors become 1
        return 0 if exc.code in (0, None) else 1
    except (ClientError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
