"""Page copies as hard links (``Publisher(link_copies=True)``, ``publish --link-copies``).

A link costs no inode, no data and no rename, which is most of what a full
publish at PyPI scale spends in the kernel. These tests show that the links are
only ever made to the very bytes that were hashed and parsed, that ngclient
verifies everything, that a page replaced by rename leaves the signed copy as
it was, and what happens with a writer that edits pages in place (the reason
the option is off by default).
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from tuf.api.exceptions import LengthOrHashMismatchError

import tuf_pypi.repository.publisher as publisher_module
from tuf_pypi.cli import main
from tuf_pypi.repository import load_view, verify_repository
from tuf_pypi.repository.pagecache import PageCache, link_copy
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.passphrases import PASSPHRASE

from .disk_client import client_sees_everything, updater


def _copy_of(signed, path: str) -> Path:
    view = load_view(signed.storage)
    sha256 = view.bin(view.bin_of(path)).signed.targets[path].hashes["sha256"]
    directory, _, form = path.rpartition("/")
    return signed.repo / directory / f"{sha256}.{form}"


def test_full_publish_links_every_copy_and_ngclient_verifies(make_repo, tmp_path) -> None:
    signed = make_repo(publish=False)
    report = signed.publisher(processes=1, link_copies=True).publish()
    assert report.added
    for path in report.added:
        assert os.path.samefile(_copy_of(signed, path), signed.repo / path), path
    client_sees_everything(signed.repo, tmp_path / "client", read_copies=True)
    result = verify_repository(signed.storage, signed.clock())
    assert result.ok and not result.pending


def test_parallel_workers_link_too(make_repo, monkeypatch) -> None:
    signed = make_repo(publish=False)
    original = publisher_module.scan_projects
    monkeypatch.setattr(
        publisher_module,
        "scan_projects",
        lambda *args, **kwargs: original(*args, **{**kwargs, "chunk_size": 1}),
    )
    report = signed.publisher(processes=2, link_copies=True).publish()
    assert report.added
    assert all(os.path.samefile(_copy_of(signed, p), signed.repo / p) for p in report.added)
    assert verify_repository(signed.storage, signed.clock()).ok


def test_stat_cache_keys_are_taken_after_linking(make_repo) -> None:
    signed = make_repo(publish=False)
    publisher = signed.publisher(processes=1, link_copies=True)
    publisher.publish()
    cache = PageCache(publisher.state_dir, signed.repo).load()
    page = signed.page("demo-lib")
    st = page.lstat()
    assert cache.entries["simple/demo-lib/index.html"].key == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
    )
    report = publisher.publish()
    assert not report.wrote_metadata and not report.repaired


def test_page_replaced_by_rename_keeps_the_signed_copy(make_repo, tmp_path) -> None:
    signed = make_repo(publish=False)
    publisher = signed.publisher(processes=1, link_copies=True)
    publisher.publish()
    old_copy = _copy_of(signed, "simple/demo-lib/index.html")
    old_bytes = old_copy.read_bytes()
    add_release(signed.repo, SampleDist("demo-lib", "9.0"))  # writes by rename
    report = publisher.publish()
    assert "simple/demo-lib/index.html" in report.changed
    assert old_copy.read_bytes() == old_bytes  # what older snapshots name is intact
    assert os.path.samefile(_copy_of(signed, "simple/demo-lib/index.html"), signed.page("demo-lib"))
    client_sees_everything(signed.repo, tmp_path / "client", read_copies=True)


def test_link_copy_refuses_a_page_replaced_after_it_was_read(tmp_path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"what was hashed")
    read_from = os.stat(page)
    replacement = tmp_path / "new"
    replacement.write_bytes(b"something else")
    os.replace(replacement, page)  # swapped between the read and the link
    copy = tmp_path / "abc.index.html"
    assert link_copy(str(page), str(copy), read_from) is None
    assert not copy.exists()  # the stray link is gone; the caller writes the bytes


def test_link_copy_leaves_an_existing_copy_to_the_caller(tmp_path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"bytes")
    copy = tmp_path / "abc.index.html"
    copy.write_bytes(b"stale")
    assert link_copy(str(page), str(copy), os.stat(page)) is None
    assert copy.read_bytes() == b"stale"


def test_a_stale_copy_is_replaced_with_the_hashed_bytes(make_repo) -> None:
    signed = make_repo(publish=False)
    publisher = signed.publisher(processes=1, link_copies=True)
    publisher.publish()
    copy = _copy_of(signed, "simple/demo-lib/index.html")
    copy.unlink()
    copy.write_bytes(b"torn")  # e.g. left by a crash of some other tool
    report = signed.publisher(processes=1, link_copies=True, page_cache=False).publish()
    assert report.repaired == ["simple/demo-lib/index.html"]
    assert copy.read_bytes() == signed.page("demo-lib").read_bytes()


def test_an_edit_in_place_changes_the_linked_copy_and_clients_refuse_it(
    make_repo, tmp_path
) -> None:
    """Why linking is opt-in: the copy *is* the page file.

    A writer that edits a page in place (instead of replacing it by rename) also
    edits the signed copy. Clients then refuse the page (its hash no longer
    matches) until the next publish signs the new bytes; nothing unsigned is
    ever accepted. That publish says so, and gives the page a copy of its own.
    """
    signed = make_repo(publish=False)
    publisher = signed.publisher(processes=1, link_copies=True)
    publisher.publish()
    page = signed.page("demo-lib")
    with open(page, "r+b") as f:  # in place: same inode
        f.write(b"<!-- edited -->")
    client = updater(signed.repo, tmp_path / "client")
    client.refresh()
    info = client.get_targetinfo("simple/demo-lib/index.html")
    copy = _copy_of(signed, "simple/demo-lib/index.html")
    with pytest.raises(LengthOrHashMismatchError):
        info.verify_length_and_hashes(copy.read_bytes())

    report = publisher.publish()
    assert report.edited_in_place == ["simple/demo-lib/index.html"]
    assert report.changed == ["simple/demo-lib/index.html"]
    new_copy = _copy_of(signed, "simple/demo-lib/index.html")
    assert not new_copy.samefile(page)  # its own bytes: the next edit cannot reach it
    signed_bytes = new_copy.read_bytes()
    with open(page, "r+b") as f:
        f.write(b"<!-- again!! -->")
    assert new_copy.read_bytes() == signed_bytes
    client_sees_everything(signed.repo, tmp_path / "client2", read_copies=True)


def test_edits_in_place_are_not_reported_without_linked_copies(make_repo) -> None:
    signed = make_repo(publish=False)
    publisher = signed.publisher(processes=1)
    publisher.publish()
    with open(signed.page("demo-lib"), "r+b") as f:
        f.write(b"<!-- edited -->")
    report = publisher.publish()
    assert report.changed == ["simple/demo-lib/index.html"] and not report.edited_in_place


def test_the_cli_warns_about_an_edit_in_place(make_repo) -> None:
    signed = make_repo(publish=False)
    args = ["--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir), "--link-copies"]
    env = {"TUF_PYPI_PASSPHRASE": PASSPHRASE}
    assert CliRunner().invoke(main, ["publish", *args], env=env).exit_code == 0
    with open(signed.page("demo-lib"), "r+b") as f:
        f.write(b"<!-- edited -->")
    result = CliRunner().invoke(main, ["publish", *args], env=env)
    assert result.exit_code == 0, result.output
    assert "simple/demo-lib/index.html was edited in place" in result.output


def test_where_hard_links_fail_the_bytes_are_written(make_repo, monkeypatch) -> None:
    """A file system without hard links (or out of link slots): the same result, as files."""

    def no_links(*_args, **_kwargs):
        raise OSError(errno.EPERM, "no hard links here")

    signed = make_repo(publish=False)
    monkeypatch.setattr(os, "link", no_links)  # inherited by the forked workers
    monkeypatch.setattr(publisher_module, "_PARALLEL_PAGES", 1)
    publisher = signed.publisher(processes=2, link_copies=True)
    report = publisher.publish()
    assert report.added and not report.skipped
    batch = {
        path: (signed.repo / path).read_bytes().replace(b"</body>", b"<!-- b --></body>")
        for path in ("simple/demo-lib/index.html", "simple/demo-core/index.html")
    }
    report = publisher.publish_pages(batch)
    assert sorted(report.changed) == sorted(batch)
    for path, data in batch.items():
        page = signed.repo / path
        assert page.read_bytes() == data and not page.samefile(_copy_of(signed, path))
    assert verify_repository(signed.storage, signed.clock()).ok


def test_page_edited_in_place_between_read_and_link_is_rehashed(make_repo, monkeypatch) -> None:
    """Issue 18 item 12: the edit lands after the page was hashed, before the link.

    The link would give the copy named by the old digest the new bytes, and the
    stat cache (keyed after linking) would sign the old digest forever. The copy
    must keep the hashed bytes, and the next publish must sign the new ones."""
    signed = make_repo(publish=False)
    page = signed.page("demo-lib")
    edited = page.read_bytes().replace(b"</body>", b"<!-- edited in place --></body>")
    real_link = os.link
    done = []

    def link_after_an_edit(src, dst, *args, **kwargs):
        if not done and str(src) == str(page):
            done.append(dst)
            with open(page, "r+b") as f:  # same inode: an in-place edit
                f.write(edited)
                f.truncate()
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link_after_an_edit)
    publisher = signed.publisher(processes=1, link_copies=True)
    publisher.publish()
    monkeypatch.setattr(os, "link", real_link)
    assert done
    copy = Path(done[0])
    digest = copy.name.split(".")[0]
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest  # the hashed bytes
    assert not os.path.samefile(copy, page)
    publisher.publish()  # no further edit: the page is read again, not trusted
    assert _copy_of(signed, "simple/demo-lib/index.html").read_bytes() == edited
    assert verify_repository(signed.storage, signed.clock()).ok
