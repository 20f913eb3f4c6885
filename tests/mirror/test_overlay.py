"""mirror overlay: TUF for an existing bandersnatch tree, whose own pages are not PyPI's bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuf_pypi import layout
from tuf_pypi.cli import main
from tuf_pypi.client import AllMirrorsFailedError, Client, SetupError
from tuf_pypi.mirror.overlay import overlay_mirror
from tuf_pypi.mirror.sync import SyncOptions
from tuf_pypi.repository import RepositoryStorage, init_repository
from tuf_pypi.repository.gc import collect_garbage
from tuf_pypi.sample import SampleDist, add_release, build_index
from tuf_pypi.testing.passphrases import OFFLINE, PASSPHRASE
from tuf_pypi.testing.signed_repo import SignedRepo

from .helpers import age_tree, fetch_page, ngclient

#: Like PyPI, the upstream's pages link files on another host; it is never contacted.
FILES_HOST = "https://files.example.invalid"


@pytest.fixture
def pypi(tmp_path, clock) -> SignedRepo:
    """A signed index whose pages use absolute file URLs, as PyPI's do."""
    repo, keys = tmp_path / "pypi/repo", tmp_path / "pypi/keys"
    build_index(repo, base_url=FILES_HOST)
    init_repository(repo, keys, PASSPHRASE, **OFFLINE, number_of_bins=16, now=clock())
    signed = SignedRepo(repo, keys, clock)
    signed.publisher().publish()
    return signed


def bandersnatch_tree(pypi: SignedRepo, web: Path, projects: list[str], skip: str = "") -> None:
    """What bandersnatch writes for ``projects``: regenerated pages, relative links.

    ``web/simple/<p>/index.html``, ``index.v1_html`` and ``index.v1_json`` (its own
    bytes: relative links, a serial comment), ``web/simple/index.html`` and
    ``index.v1_json``, ``web/packages/<same path as upstream>``, ``web/local-stats/``.
    A file whose name contains ``skip`` is not downloaded (yet).
    """
    (web / "local-stats/days").mkdir(parents=True, exist_ok=True)
    for project in projects:
        page = json.loads((pypi.repo / "simple" / project / "index.v1_json").read_bytes())
        links = []
        for f in page["files"]:
            rel = f["url"].split("/packages/", 1)[1]
            f["url"] = f"../../packages/{rel}"
            if not (skip and skip in f["filename"]):
                dest = web / "packages" / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(pypi.repo / "packages" / rel, dest)
                shutil.copy(pypi.repo / "packages" / f"{rel}.metadata", f"{dest}.metadata")
            links.append(
                f'    <a href="{f["url"]}#sha256={f["hashes"]["sha256"]}" '
                f'data-dist-info-metadata="sha256={f["core-metadata"]["sha256"]}">'
                f"{f['filename']}</a><br/>"
            )
        html = (
            "<!DOCTYPE html>\n<html>\n  <head>\n"
            '    <meta name="pypi:repository-version" content="1.1">\n'
            f"    <title>Links for {project}</title>\n  </head>\n  <body>\n"
            f"    <h1>Links for {project}</h1>\n" + "\n".join(links) + "\n  </body>\n</html>\n"
            "<!--SERIAL 4242-->"
        ).encode()
        directory = web / "simple" / project
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "index.html").write_bytes(html)
        (directory / "index.v1_html").write_bytes(html)
        (directory / "index.v1_json").write_bytes(json.dumps(page, sort_keys=True).encode())
    names = sorted(p.name for p in (web / "simple").iterdir() if p.is_dir())
    root = "".join(f'    <a href="{n}/">{n}</a><br/>\n' for n in names)
    (web / "simple/index.html").write_text(f"<html><body>\n{root}</body></html>\n")
    listing = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
    (web / "simple/index.v1_json").write_text(json.dumps(listing))


def _bandersnatch_files(web: Path) -> dict[str, bytes]:
    return {
        p.relative_to(web).as_posix(): p.read_bytes()
        for p in web.rglob("*")
        if p.is_file() and p.relative_to(web).parts[0] != "tuf" and ".index." not in p.name
    }


def _overlay(pypi: SignedRepo, url: str, web: Path, root: bool = True):
    return overlay_mirror(
        url,
        web,
        root=(pypi.repo / "tuf/1.root.json").read_bytes() if root else None,
        options=SyncOptions(state_dir=web.parent / "state"),
        now=pypi.clock(),
    )


def test_overlay_gives_bandersnatch_tree_signed_pages(pypi, http, nginx, tmp_path) -> None:
    web = tmp_path / "mirror/web"
    bandersnatch_tree(pypi, web, ["demo-app", "demo-core"], skip="demo_app-1.0")
    before = _bandersnatch_files(web)

    report = _overlay(pypi, http(pypi.repo).url, web)
    assert {p.split("/")[1] for p in report.pages} == {"demo-app", "demo-core"}
    assert len(report.pages) == 4 and report.files == []
    # bandersnatch has not downloaded demo-app 1.0: its wheel and .metadata are missing.
    assert len(report.missing_files) == 2
    assert all("demo_app-1.0-" in f for f in report.missing_files)
    assert _bandersnatch_files(web) == before  # bandersnatch's pages and files untouched
    for copy in map(Path, report.pages):
        _digest, form = layout.split_consistent_name(copy.name)
        assert (web / copy).read_bytes() == (pypi.repo / copy.parent / form).read_bytes()

    url = nginx(web)
    trusted_root = pypi.repo / "tuf/1.root.json"
    with Client([url], trusted_root, tmp_path / "client") as client:
        page = client.page("demo-app")
        assert FILES_HOST.encode() in page.data  # upstream's signed bytes, not bandersnatch's
        wheel = client.download(page, "demo_app-1.1-py3-none-any.whl", tmp_path / "dl")
        assert (
            wheel.read_bytes()
            == next(pypi.repo.glob("packages/**/demo_app-1.1-*.whl")).read_bytes()
        )
        with pytest.raises(AllMirrorsFailedError):
            client.page("demo-lib")  # not on this mirror
    updater = ngclient(url, trusted_root.read_bytes(), tmp_path / "ng")
    path = "simple/demo-core/index.html"
    assert fetch_page(updater, path, tmp_path / "p") == (pypi.repo / path).read_bytes()


def test_overlay_follows_bandersnatch_and_upstream(pypi, http, tmp_path) -> None:
    server = http(pypi.repo)
    web = tmp_path / "mirror/web"
    bandersnatch_tree(pypi, web, ["demo-app"])
    _overlay(pypi, server.url, web)
    server.take()

    bandersnatch_tree(pypi, web, ["demo-lib"])  # bandersnatch picked up another project
    report = _overlay(pypi, server.url, web, root=False)
    assert not report.switched
    assert {p.split("/")[1] for p in report.pages} == {"demo-lib"}
    assert not [p for p in server.take() if "demo-app" in p]

    add_release(pypi.repo, SampleDist("demo-app", "2.0"), base_url=FILES_HOST)
    pypi.publisher().publish()
    report = _overlay(pypi, server.url, web, root=False)
    assert report.switched and {p.split("/")[1] for p in report.pages} == {"demo-app"}
    # bandersnatch has not fetched 2.0 yet.
    assert len(report.missing_files) == 2
    assert all("demo_app-2.0-" in f for f in report.missing_files)

    age_tree(web, 3 * 86400)
    before = _bandersnatch_files(web)
    gc = collect_garbage(RepositoryStorage(web), web.parent / "state/publish.lock", pypi.clock())
    assert gc.deleted_pages and all(".index." in p for p in gc.deleted_pages)
    assert _bandersnatch_files(web) == before


def test_overlay_command(pypi, http, tmp_path) -> None:
    web = tmp_path / "mirror/web"
    bandersnatch_tree(pypi, web, ["demo-app"], skip="demo_app-1.0")
    args = ["mirror", "overlay", "--from", http(pypi.repo).url, "--web", str(web)]
    args += ["--state-dir", str(tmp_path / "state"), "--root", str(pypi.repo / "tuf/1.root.json")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 page copies" in result.stdout
    assert "2 files on signed pages are not in" in result.stderr
    assert (web / "tuf/timestamp.json").is_file()

    with pytest.raises(SetupError, match="not a bandersnatch"):
        _overlay(pypi, "http://127.0.0.1:9/", tmp_path)
