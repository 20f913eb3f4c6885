"""``tuf-pypi verify --mirror [--files]``: what a mirror without keys can be monitored on.

A mirror (synced, or an overlay over bandersnatch) has no keys, and its live pages
may be newer than the signed ones (bandersnatch rewrites them): that is no fault of
the mirror. What it owes its clients is the chain, every signed page copy, and (for
a full mirror) every file the signed pages list under packages/.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.localfs import exclusive_lock
from tuf_pypi.mirror import SyncOptions, sync_mirror
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.signed_repo import SignedRepo


def verify(mirror: Path, *args: str):
    return CliRunner().invoke(main, ["verify", "--repo", str(mirror), *args])


@pytest.fixture
def mirror(make_repo, http, tmp_path) -> tuple[SignedRepo, Path]:
    """A real `mirror sync` of a signed upstream, files included."""
    signed = make_repo()
    dest = tmp_path / "mirror"
    sync_mirror(
        http(signed.repo).url,
        dest,
        root=(signed.repo / "tuf/1.root.json").read_bytes(),
        options=SyncOptions(state_dir=tmp_path / "state"),
        now=signed.clock(),
    )
    return signed, dest


def test_regenerated_live_pages_are_no_failure_of_a_mirror(mirror) -> None:
    _, dest = mirror
    # bandersnatch (or an upstream sync) rewrote a live page the mirror has not signed
    add_release(dest, SampleDist("demo-app", "9.0"))
    admin = verify(dest)
    assert admin.exit_code == 3 and "pending: simple/demo-app/index.html" in admin.output
    assert "verify --mirror" in admin.output
    result = verify(dest, "--mirror")
    assert result.exit_code == 0, result.output
    assert "note: 2 live pages" in result.output and "pending" not in result.output
    assert json.loads(verify(dest, "--mirror", "--json").stdout)["mode"] == "mirror"


def test_a_missing_or_altered_signed_copy_fails_mirror_mode(mirror) -> None:
    _, dest = mirror
    copies = sorted((dest / "simple/demo-core").glob("*.index.html"))
    assert copies
    copies[-1].write_bytes(copies[-1].read_bytes() + b"<!-- tampered -->")
    result = verify(dest, "--mirror")
    assert result.exit_code == 1 and "does not match the signed hash/length" in result.output
    copies[-1].unlink()
    result = verify(dest, "--mirror")
    assert result.exit_code == 1 and "missing (signed copy of simple/demo-core" in result.output


def test_files_listed_on_signed_pages_are_checked_with_their_hash(mirror) -> None:
    _, dest = mirror
    result = verify(dest, "--mirror", "--files")
    assert result.exit_code == 0, result.output
    wheels = sorted(dest.glob("packages/**/*.whl"))
    assert f"{len(wheels)} files checked" in result.output
    wheels[0].write_bytes(b"x" * wheels[0].stat().st_size)  # same size, other bytes
    wheels[1].unlink()
    result = verify(dest, "--mirror", "--files")
    assert result.exit_code == 1
    rel0, rel1 = (w.relative_to(dest).as_posix() for w in wheels[:2])
    assert f"{rel0}: does not match the sha256 on the signed page" in result.output
    assert f"{rel1}: missing (listed on simple/" in result.output
    assert verify(dest, "--mirror").exit_code == 0  # without --files, files are not read


def test_keep_index_versions_tree(make_repo) -> None:
    """bandersnatch ``keep_index_versions``: every page a symlink into ``versions/``."""
    signed = make_repo(publish=False)
    repo = signed.repo

    def as_versions(generation: int) -> None:
        for project in (repo / "simple").iterdir():
            if not project.is_dir():
                continue
            for form in ("index.html", "index.v1_json"):
                page = project / form
                if not page.exists() or page.is_symlink():  # absent, or already a version
                    continue
                kept = project / "versions" / f"{form}_{generation}"
                kept.parent.mkdir(exist_ok=True)
                kept.write_bytes(page.read_bytes())
                tmp = project / f".{form}.link"
                os.symlink(f"versions/{kept.name}", tmp)
                os.replace(tmp, page)

    as_versions(0)
    report = signed.publisher().publish()
    assert len(report.added) == 8 and not report.skipped
    assert verify(repo).exit_code == 0
    add_release(repo, SampleDist("demo-app", "9.0"))  # writes through the symlinks' names
    as_versions(1)
    report = signed.publisher().publish()
    assert sorted(report.changed) == ["simple/demo-app/index.html", "simple/demo-app/index.v1_json"]
    result = verify(repo, "--files", "--mirror")
    assert result.exit_code == 0, result.output
    assert (repo / "simple/demo-app/index.html").is_symlink()


def test_an_upstream_without_tuf_metadata_is_said_in_one_line(make_repo, http, tmp_path) -> None:
    signed = make_repo()
    plain = tmp_path / "plain"  # an index with pages but no tuf/, like pypi.org today
    (plain / "simple").mkdir(parents=True)
    url = http(plain).url + "/"
    result = CliRunner().invoke(
        main,
        ["mirror", "sync", "--from", url, "--to", str(tmp_path / "m"),
         "--root", str(signed.repo / "tuf/1.root.json"), "--state-dir", str(tmp_path / "s")],
    )  # fmt: skip
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: {url} serves no TUF metadata (no tuf/timestamp.json)")
    assert first.count(url) == 1 and "docs/mirror.md" in first


def test_verify_says_why_publish_refuses_a_page(make_repo) -> None:
    signed = make_repo()
    odd = signed.repo / "simple" / "Not_Normalized"
    odd.mkdir()
    (odd / "index.html").write_bytes(b"<html></html>")
    page = signed.page("demo-core")
    page.write_bytes(b"\xff")
    result = verify(signed.repo)
    assert result.exit_code == 3
    assert "refused: simple/Not_Normalized: directory name is not a PEP 503" in result.output
    assert "refused: simple/demo-core/index.html: not valid UTF-8" in result.output
    assert "pending" not in result.output  # publish would not help


def test_mirror_sync_says_when_it_waits_for_the_lock(make_repo, http, tmp_path) -> None:
    signed = make_repo()
    state = tmp_path / "state"
    state.mkdir()
    holding = threading.Event()

    def hold() -> None:
        with exclusive_lock(state / "publish.lock"):  # a gc, or another sync
            holding.set()
            time.sleep(2)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    args = ["mirror", "sync", "--from", http(signed.repo).url, "--to", str(tmp_path / "m")]
    args += ["--root", str(signed.repo / "tuf/1.root.json"), "--state-dir", str(state)]
    result = CliRunner().invoke(main, args)
    holder.join()
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"waiting for the lock {state / 'publish.lock'}...")


def test_a_partial_mirror_is_checked_for_its_projects(make_repo, http, tmp_path) -> None:
    signed = make_repo()
    dest = tmp_path / "partial"
    sync_mirror(
        http(signed.repo).url,
        dest,
        root=(signed.repo / "tuf/1.root.json").read_bytes(),
        options=SyncOptions(state_dir=tmp_path / "ps", projects=frozenset({"demo-app"})),
        now=signed.clock(),
    )
    assert verify(dest, "--mirror").exit_code == 1  # the other projects' copies are absent
    result = verify(dest, "--mirror", "--files", "--project", "Demo_App")
    assert result.exit_code == 0, result.output
    for copy in (dest / "simple/demo-app").glob("*.index.html"):
        copy.unlink()
    result = verify(dest, "--mirror", "--project", "demo-app")
    assert result.exit_code == 1 and "missing (signed copy of simple/demo-app" in result.output
