"""The fast publishing paths produce standard metadata that ngclient verifies."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

import tuf_pypi.repository.publisher as publisher_module
from tuf_pypi import pages
from tuf_pypi.repository import RepositoryStorage, load_view, verify_repository
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.signed_repo import targets_of

from .disk_client import FileFetcher, client_sees_everything, updater


def test_full_and_incremental_publish_verify_with_ngclient(make_repo, tmp_path) -> None:
    signed = make_repo(bins=64)
    client_sees_everything(signed.repo, tmp_path / "client")
    publisher = signed.publisher()
    add_release(signed.repo, SampleDist("demo-lib", "7.0"))
    report = publisher.publish(["demo-lib"])
    assert report.changed and len(report.bins_signed) <= 2
    add_release(signed.repo, SampleDist("demo-new", "0.1"))
    report = publisher.publish()  # full scan, same publisher (cached state)
    assert report.added and not report.changed
    client_sees_everything(signed.repo, tmp_path / "client")  # warm client, same cache
    assert verify_repository(signed.storage, signed.clock()).ok


def test_parallel_full_publish_matches_sequential(make_repo, monkeypatch) -> None:
    one = make_repo(publish=False, name="one")
    two = make_repo(publish=False, name="two")
    one.publisher(processes=1).publish()
    original = publisher_module.scan_projects
    # Force the worker pool even for a small index.
    monkeypatch.setattr(
        publisher_module,
        "scan_projects",
        lambda *args, **kwargs: original(*args, **{**kwargs, "chunk_size": 1}),
    )
    two.publisher(processes=2).publish()
    view_one = load_view(RepositoryStorage(one.repo))
    view_two = load_view(RepositoryStorage(two.repo))
    for name in view_one.bin_names():
        assert view_one.bin(name).signed.targets == view_two.bin(name).signed.targets
    result = verify_repository(two.storage, two.clock())
    assert result.ok and not result.pending


def test_publish_pages_in_memory_batch(make_repo, tmp_path) -> None:
    signed = make_repo()
    html = (signed.repo / "simple/demo-lib/index.html").read_bytes()
    new_html = html.replace(b"</body>", b"<!-- v2 --></body>")
    report = signed.publisher().publish_pages(
        {
            "simple/demo-lib/index.html": new_html,
            "simple/fresh-project/index.html": new_html.replace(b"demo-lib", b"fresh-project"),
            "simple/demo-app/index.v1_json": None,
            "simple/broken/index.v1_json": b"{not json",
        }
    )
    assert report.changed == ["simple/demo-lib/index.html"]
    assert report.added == ["simple/fresh-project/index.html"]
    assert report.removed == ["simple/demo-app/index.v1_json"]
    assert [s.source for s in report.skipped] == ["simple/broken/index.v1_json"]
    assert (signed.repo / "simple/demo-lib/index.html").read_bytes() == new_html
    assert not (signed.repo / "simple/demo-app/index.v1_json").exists()
    assert not (signed.repo / "simple/broken/index.v1_json").exists()
    result = verify_repository(signed.storage, signed.clock())
    assert result.ok and not result.pending, (result.problems, result.pending)
    client_sees_everything(signed.repo, tmp_path / "client")


def _batch(repo: Path) -> dict[str, bytes | None]:
    html = (repo / "simple/demo-lib/index.html").read_bytes()
    new_html = html.replace(b"</body>", b"<!-- v2 --></body>")
    unverifiable = re.sub(rb"#sha256=[0-9a-f]{64}", b"", new_html, count=1)
    return {
        "simple/demo-lib/index.html": new_html,
        "simple/demo-core/index.html": (repo / "simple/demo-core/index.html").read_bytes(),
        "simple/fresh-project/index.html": new_html.replace(b"demo-lib", b"fresh-project"),
        "simple/fresh-two/index.html": unverifiable.replace(b"demo-lib", b"fresh-two"),
        "simple/demo-app/index.v1_json": None,
        "simple/broken/index.v1_json": b"{not json",
        "simple/broken-html/index.html": html.replace(b'href="', b'href="javascript:', 1),
    }


@pytest.mark.parametrize("link_copies", [False, True])
def test_publish_pages_parallel_matches_one_process(make_repo, monkeypatch, link_copies) -> None:
    one = make_repo(name="one")
    two = make_repo(name="two")
    for signed in (one, two):  # an unchanged page whose copy is gone: repaired
        for copy in (signed.repo / "simple/demo-core").glob("*.index.html"):
            copy.unlink()
    report_one = one.publisher(processes=1).publish_pages(_batch(one.repo))
    monkeypatch.setattr(publisher_module, "_PARALLEL_PAGES", 1)  # workers even for a few
    parallel = two.publisher(processes=2, link_copies=link_copies)
    report_two = parallel.publish_pages(_batch(two.repo))
    assert report_one.to_dict() | {"snapshot_version": 0} == report_two.to_dict() | {
        "snapshot_version": 0
    }
    assert report_two.repaired == ["simple/demo-core/index.html"]
    assert report_two.unverifiable == {"simple/fresh-two/index.html": 1}
    assert [s.source for s in report_two.skipped] == [
        "simple/broken-html/index.html",
        "simple/broken/index.v1_json",
    ]
    assert report_two.added == ["simple/fresh-project/index.html", "simple/fresh-two/index.html"]
    files_one = sorted(p.relative_to(one.repo) for p in (one.repo / "simple").rglob("*"))
    files_two = sorted(p.relative_to(two.repo) for p in (two.repo / "simple").rglob("*"))
    assert files_one == files_two
    for rel in files_two:
        if (two.repo / rel).is_file():
            assert (one.repo / rel).read_bytes() == (two.repo / rel).read_bytes()
    for path in report_two.added + report_two.changed:  # page and copy: one file or two
        page = two.repo / path
        copies = [p for p in page.parent.iterdir() if p.name.endswith("." + page.name)]
        assert any(page.samefile(copy) for copy in copies) == link_copies, path
    view_one = load_view(RepositoryStorage(one.repo))
    view_two = load_view(RepositoryStorage(two.repo))
    for name in view_one.bin_names():
        assert view_one.bin(name).signed.targets == view_two.bin(name).signed.targets
    result = verify_repository(two.storage, two.clock())
    assert result.ok and not result.pending, (result.problems, result.pending)


def test_cached_state_notices_another_publishers_commit(make_repo) -> None:
    signed = make_repo()
    first, second = signed.publisher(), signed.publisher()
    add_release(signed.repo, SampleDist("demo-lib", "8.0"))
    first.publish(["demo-lib"])
    add_release(signed.repo, SampleDist("demo-core", "8.0"))
    second.publish(["demo-core"])
    add_release(signed.repo, SampleDist("demo-app", "8.0"))
    report = first.publish(["demo-app"])  # must build on second's commit
    view = load_view(signed.storage)
    assert view.timestamp.signed.version == report.timestamp_version == 5
    result = verify_repository(signed.storage, signed.clock())
    assert result.ok and not result.pending


class _CountParses:
    def __init__(self, monkeypatch) -> None:
        self.count = 0
        original = pages.check_page  # what publishing validates pages with

        def counting(data, form, source):
            self.count += 1
            return original(data, form, source)

        monkeypatch.setattr(pages, "check_page", counting)


def test_stat_cache_skips_unchanged_pages_and_rehashes_changed_ones(make_repo, monkeypatch):
    signed = make_repo()
    publisher = signed.publisher(processes=1)
    publisher.publish()  # fills the cache (the fixture's publish ran before it existed)
    counter = _CountParses(monkeypatch)
    report = publisher.publish()
    assert counter.count == 0 and not report.wrote_metadata

    page = signed.page("demo-lib")
    data = page.read_bytes()
    st = page.stat()
    # Same size, mtime restored by hand: ctime still moves, so it is re-hashed.
    changed = data.replace(b"demo-lib", b"DEMO-LIB", 1)
    assert len(changed) == len(data)
    page.write_bytes(changed)
    os.utime(page, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = publisher.publish()
    assert report.changed == ["simple/demo-lib/index.html"] and counter.count == 1

    # A new inode (replace by rename) with the same bytes: re-hashed, not re-signed.
    tmp = page.with_name("tmp")
    tmp.write_bytes(changed)
    os.replace(tmp, page)
    report = publisher.publish()
    assert not report.wrote_metadata and counter.count == 1  # same digest: no re-parse

    # A size change is re-hashed and re-signed.
    page.write_bytes(changed + b"\n")
    report = publisher.publish()
    assert report.changed == ["simple/demo-lib/index.html"] and counter.count == 2
    assert verify_repository(signed.storage, signed.clock()).ok


def test_stat_cache_lives_outside_the_repository(make_repo, tmp_path) -> None:
    signed = make_repo()
    state = tmp_path / "state"
    signed.publisher(state_dir=state).publish()
    assert list(state.glob("page-cache-*.tsv"))
    assert not [p for p in signed.repo.rglob("*") if "cache" in p.name or "dirty" in p.name]


def test_missing_copy_is_repaired_even_when_cached(make_repo) -> None:
    signed = make_repo()
    publisher = signed.publisher(processes=1)
    publisher.publish()
    view = load_view(signed.storage)
    target = view.bin(view.bin_of("simple/demo-lib/index.html")).signed.targets[
        "simple/demo-lib/index.html"
    ]
    copy = signed.repo / "simple/demo-lib" / f"{target.hashes['sha256']}.index.html"
    copy.unlink()
    report = publisher.publish()
    assert report.repaired == ["simple/demo-lib/index.html"] and copy.exists()


def test_client_fetches_few_files_for_one_project(make_repo, tmp_path) -> None:
    signed = make_repo(bins=256)
    fetcher = FileFetcher(signed.repo)
    client = updater(signed.repo, tmp_path / "c", fetcher)
    client.refresh()
    info = client.get_targetinfo("simple/demo-lib/index.html")
    assert info is not None
    # timestamp, snapshot, targets, bins and one bin: no other metadata.
    assert len(fetcher.fetched) == 5, fetcher.fetched


def test_kept_bin_texts_follow_every_kind_of_publish(make_repo) -> None:
    """Batches keep rendered bin texts; any other commit in between must not go stale."""
    signed = make_repo(bins=2)  # every page shares one of two bins
    publisher = signed.publisher(processes=1)
    page = signed.page("demo-lib")

    def edited(n: int) -> bytes:
        return page.read_bytes().replace(b"</body>", f"<!-- {n} --></body>".encode())

    publisher.publish_pages({"simple/demo-lib/index.html": edited(1)})
    add_release(signed.repo, SampleDist("demo-core", "9.9"))
    publisher.publish()  # full publish: changes the same bins without kept texts
    publisher.publish_pages({"simple/demo-lib/index.html": edited(2)})
    add_release(signed.repo, SampleDist("demo-app", "9.9"))
    publisher.publish(["demo-app"])
    publisher.refresh(timedelta(days=400))  # re-signs every bin as it is
    publisher.publish_pages({"simple/demo-lib/index.html": edited(3)})

    view = load_view(signed.storage)
    for path in targets_of(signed.repo):
        target = view.bin(view.bin_of(path)).signed.targets[path]
        data = (signed.repo / path).read_bytes()
        assert target.hashes["sha256"] == hashlib.sha256(data).hexdigest(), path
    assert verify_repository(signed.storage, signed.clock()).ok
