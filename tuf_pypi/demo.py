"""The embedded default: sign a small index, serve it, verify it, catch a tamper.

Run by ``scripts/demo``. Everything happens on this machine: a sample index with
real wheels is built under ``demo/``, keys go to ``keys/`` under a clearly
labelled demo passphrase, and the repository is served on 127.0.0.1.
"""

from __future__ import annotations

import functools
import shutil
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tuf.api.exceptions import RepositoryError
from tuf.ngclient import Updater, UpdaterConfig

from . import layout
from .keys import KeyDirectory
from .repository import Publisher, RepositoryStorage, init_repository, verify_repository
from .repository.publisher import utcnow
from .sample import build_index

__all__ = ["DEMO_PASSPHRASE", "run_demo"]

#: Not a secret: it protects throwaway demo keys only. Never use it for real keys.
DEMO_PASSPHRASE = "demo-passphrase-not-for-production"
_MARKER = ".demo-keys"


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _say(text: str) -> None:
    print(f"   {text}", flush=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _reset(work: Path, keys_dir: Path) -> None:
    """Remove a previous demo run, but never keys that the demo did not create."""
    if keys_dir.exists() and any(keys_dir.glob("*.key")):
        if not (keys_dir / _MARKER).exists():
            sys.exit(f"{keys_dir} holds keys that are not demo keys; refusing to touch them")
        for path in keys_dir.iterdir():
            if path.name != "README.md":
                path.unlink()
    shutil.rmtree(work, ignore_errors=True)


def _updater(url: str, root: bytes, cache: Path) -> Updater:
    (cache / "pages").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(cache),
        metadata_base_url=f"{url}/tuf/",
        target_base_url=f"{url}/",
        target_dir=str(cache / "pages"),
        config=UpdaterConfig(prefix_targets_with_hash=True),
        bootstrap=root,
    )


def run_demo(work: Path, keys_dir: Path) -> int:
    """Run every step; return 0 when everything behaved as it should."""
    _reset(work, keys_dir)
    repo = work / "index"

    _step("1. Build a small package index, the way bandersnatch lays one out")
    built = build_index(repo)
    for project, wheels in built.items():
        _say(f"{project}: {', '.join(w.name for w in wheels)}")
    _say(f"pages are in {repo}/simple/<project>/index.html and index.v1_json")

    _step("2. Create keys and TUF metadata (tuf-pypi init)")
    _say(f"demo passphrase: {DEMO_PASSPHRASE!r} (throwaway keys, never use it for real)")
    init_repository(repo, keys_dir, DEMO_PASSPHRASE, number_of_bins=16, now=utcnow())
    (keys_dir / _MARKER).write_text("keys created by scripts/demo; safe to delete\n")
    _say(f"keys written to {keys_dir}/ (root, targets, bins: offline; online: for publishing)")

    _step("3. Sign every page with the online key (tuf-pypi publish)")
    keys = KeyDirectory(keys_dir, passphrase=lambda _label: DEMO_PASSPHRASE)
    report = Publisher(repo, keys).publish()
    _say(
        f"{len(report.added)} pages signed into {len(report.bins_signed)} bins, "
        f"snapshot v{report.snapshot_version}, timestamp v{report.timestamp_version}"
    )
    audit = verify_repository(RepositoryStorage(repo), utcnow())
    _say(f"independent audit (tuf-pypi verify): {'OK' if audit.ok else audit.problems}")

    _step("4. Serve the index on 127.0.0.1, like any static mirror or CDN would")
    handler = functools.partial(_QuietHandler, directory=str(repo))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    _say(f"serving {url}/simple/ and {url}/tuf/")
    try:
        root = (repo / layout.METADATA_DIR / "1.root.json").read_bytes()
        target = layout.page_target("demo-app", "index.v1_json")

        _step("5. A TUF client (python-tuf's ngclient) fetches and verifies a page")
        updater = _updater(url, root, work / "client-cache")
        updater.refresh()
        info = updater.get_targetinfo(target)
        assert info is not None
        page = Path(updater.download_target(info, str(work / "verified-page.json")))
        _say(f"{target}: {page.stat().st_size} bytes, sha256 {info.hashes['sha256'][:16]}...")
        _say("verified: signed by the online key, listed in a bin, bin in the snapshot,")
        _say("snapshot in the timestamp, all trusted from the pinned root.json")

        _step("6. An attacker on the mirror swaps the page for one pointing at evil wheels")
        copy = (
            repo
            / "simple"
            / "demo-app"
            / layout.consistent_name("index.v1_json", info.hashes["sha256"])
        )
        copy.write_bytes(copy.read_bytes().replace(b"demo_app-1.1", b"demo_app-6.6"))
        _say(f"tampered {copy.relative_to(repo)}")
        try:
            _updater(url, root, work / "client-cache-2").download_target(
                info, str(work / "tampered-page.json")
            )
        except RepositoryError as e:
            _say(f"REFUSED, as it should be: {type(e).__name__}: {e}")
        else:
            print("!! the tampered page was accepted: this is a bug", file=sys.stderr)
            return 1
    finally:
        server.shutdown()
        server.server_close()

    _step("Done. Next: docs/repository.md (admins), docs/cli.md (every command)")
    return 0


def main() -> None:
    base = Path.cwd()
    sys.exit(run_demo(base / "demo", base / "keys"))


if __name__ == "__main__":
    main()
