"""The embedded default: sign a small index, serve it, verify it, catch a tamper.

Run by ``scripts/demo``. Everything happens on this machine: a sample index with
real wheels is built under ``demo/``, keys go to ``keys/`` under clearly labelled
demo passphrases (one for the online key, another for the offline keys, as in a
real setup), and the repository is served on 127.0.0.1. It ends the
way a user sees it: unmodified pip installs through the verifying proxy, then
refuses the same install once the mirror serves a replaced wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tuf.api.exceptions import RepositoryError

from . import layout
from .keys import KDF_LIMITS, KeyDirectory
from .proxy import ProxyServer
from .repository import Publisher, RepositoryStorage, init_repository, verify_repository
from .repository.publisher import utcnow
from .sample import SampleDist, build_index, build_wheel
from .testing import ngclient_updater, serve_directory

__all__ = [
    "DEMO_OFFLINE_PASSPHRASE",
    "DEMO_PASSPHRASE",
    "installer_env",
    "pip_install",
    "run_demo",
]

#: Not secrets: they protect throwaway demo keys only. Never use them for real keys.
DEMO_PASSPHRASE = "demo-online-passphrase-not-for-production"
DEMO_OFFLINE_PASSPHRASE = "demo-offline-passphrase-not-for-production"
#: Throwaway keys need no costly KDF; real offline keys get the "sensitive" limits.
_DEMO_KDF = KDF_LIMITS["interactive"]
_MARKER = ".demo-keys"


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _say(text: str) -> None:
    print(f"   {text}", flush=True)


def _reset(work: Path, keys_dir: Path) -> None:
    """Remove a previous demo run, but never keys that the demo did not create."""
    if keys_dir.exists() and any(keys_dir.glob("*.key")):
        if not (keys_dir / _MARKER).exists():
            sys.exit(f"{keys_dir} holds keys that are not demo keys; refusing to touch them")
        for path in keys_dir.iterdir():
            if path.name != "README.md":
                path.unlink()
    shutil.rmtree(work, ignore_errors=True)


def installer_env() -> dict[str, str]:
    """This process's environment, cleared of everything that points pip or uv elsewhere.

    A developer's or CI's pip.conf, ``PIP_*``/``UV_*`` variables (extra indexes, find-links,
    constraints) and HTTP proxies would let an install succeed from somewhere other than
    the index under test, or send loopback traffic through a proxy. What is left is an
    installer that only knows the index URL it is given.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("PIP_", "UV_")) and not name.lower().endswith("_proxy")
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_NO_CONFIG="1",
        no_proxy="127.0.0.1,localhost,::1",
    )
    return env


def pip_install(index_url: str, target: Path, *requirements: str) -> subprocess.CompletedProcess:
    """Run unmodified pip: install ``requirements`` from ``index_url`` into ``target``."""
    command = [
        *(sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check"),
        *("--target", str(target), "--index-url", index_url, *requirements),
    ]
    return subprocess.run(
        command, env=installer_env(), capture_output=True, text=True, timeout=300, check=False
    )


def _last_line(text: str, prefix: str = "") -> str:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return lines[-1] if lines else "(no output)"


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
    _say(f"demo online passphrase: {DEMO_PASSPHRASE!r}")
    _say(f"demo offline passphrase: {DEMO_OFFLINE_PASSPHRASE!r}")
    _say("(throwaway demo keys with a fast KDF: never use these secrets for real keys)")
    init_repository(
        repo,
        keys_dir,
        DEMO_PASSPHRASE,
        offline_passphrase=DEMO_OFFLINE_PASSPHRASE,
        offline_kdf=_DEMO_KDF,
        number_of_bins=16,
        now=utcnow(),
    )
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
    server, url = serve_directory(repo)
    _say(f"serving {url}/simple/ and {url}/tuf/")
    try:
        root = (repo / layout.METADATA_DIR / "1.root.json").read_bytes()
        target = layout.page_target("demo-app", "index.v1_json")

        _step("5. A TUF client (python-tuf's ngclient) fetches and verifies a page")
        updater = ngclient_updater(url, root, work / "client-cache")
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
            ngclient_updater(url, root, work / "client-cache-2").download_target(
                info, str(work / "tampered-page.json")
            )
        except RepositoryError as e:
            _say(f"REFUSED, as it should be: {type(e).__name__}: {e}")
        else:
            print("!! the tampered page was accepted: this is a bug", file=sys.stderr)
            return 1
        copy.write_bytes(page.read_bytes())
        _say("(the attacker leaves: the signed page is put back)")

        root_file = work / "root.json"
        root_file.write_bytes(root)
        if not _install_through_proxy(work, url, root_file, built):
            return 1
    finally:
        server.shutdown()
        server.server_close()

    _step("Done. Next: docs/proxy.md (pip and uv), docs/repository.md (admins), docs/cli.md")
    return 0


def _install_through_proxy(
    work: Path, mirror: str, root_file: Path, built: dict[str, list[Path]]
) -> bool:
    """Steps 7 and 8: pip through the verifying proxy, before and after a wheel swap."""
    _step("7. Unmodified pip installs through the verifying proxy (tuf-pypi proxy)")
    _say(f"same as: tuf-pypi proxy --mirror {mirror}/ --root {root_file} --port 0")
    with ProxyServer([mirror], root_file, work / "proxy-cache", port=0).start() as proxy:
        _say(f"pip install --index-url {proxy.url} --target {work / 'site'} demo-app")
        result = pip_install(proxy.url, work / "site", "demo-app")
    if result.returncode != 0:
        print(f"!! pip failed through the proxy:\n{result.stdout}{result.stderr}", file=sys.stderr)
        return False
    _say(f"pip: {_last_line(result.stdout, 'Successfully installed')}")
    _say("every page verified through TUF, every wheel and .metadata file against its page")

    _step("8. An attacker on the mirror swaps demo-core's wheel for a look-alike")
    wheel = built["demo-core"][0]
    with tempfile.TemporaryDirectory() as scratch:
        # Same file name, same size, other bytes: only the sha256 can tell.
        forged = build_wheel(SampleDist("DEMO.CORE", "1.0"), Path(scratch)).read_bytes()
    wheel.write_bytes(forged)
    _say(f"replaced {wheel.relative_to(work)} (same name and size)")
    _say("a fresh proxy (empty cache, as on a colleague's machine) runs the same install:")
    with ProxyServer([mirror], root_file, work / "proxy-cache-2", port=0).start() as proxy:
        result = pip_install(proxy.url, work / "site-2", "demo-app")
    if result.returncode == 0 or (work / "site-2" / "demo_core").exists():
        print("!! pip installed from the tampered mirror: this is a bug", file=sys.stderr)
        return False
    _say(
        f"REFUSED, as it should be. pip's last error line:\n   {_last_line(result.stderr, 'ERROR')}"
    )
    _say("nothing was installed from the tampered mirror; no unverified byte reached pip")
    return True


def main() -> None:
    base = Path.cwd()
    sys.exit(run_demo(base / "demo", base / "keys"))


if __name__ == "__main__":
    main()
