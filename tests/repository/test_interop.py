"""python-tuf's own client (ngclient) verifies what we publish, served over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuf.api.exceptions import LengthOrHashMismatchError

from tuf_pypi import layout
from tuf_pypi.repository import load_view
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.ngclient import updater_for
from tuf_pypi.testing.signed_repo import targets_of


def test_ngclient_downloads_every_page_and_follows_updates(make_repo, serve, tmp_path) -> None:
    signed = make_repo(bins=32)
    url = serve(signed.repo)
    cache = tmp_path / "client"
    updater = updater_for(url, signed.repo, cache)
    updater.refresh()
    for path in targets_of(signed.repo):
        info = updater.get_targetinfo(path)
        assert info is not None, path
        downloaded = updater.download_target(info, str(tmp_path / "dl" / path.replace("/", "_")))
        assert Path(downloaded).read_bytes() == (signed.repo / path).read_bytes()

    before = load_view(signed.storage)
    add_release(signed.repo, SampleDist("demo-app", "2.0", requires=("demo-lib>=1.0",)))
    report = signed.publisher().publish()
    after = load_view(signed.storage)
    changed_bins = {n for n in before.bin_names() if after.version_of(n) != before.version_of(n)}
    assert changed_bins == {before.bin_of(p) for p in report.changed} == set(report.bins_signed)

    updater = updater_for(url, signed.repo, cache)
    updater.refresh()
    info = updater.get_targetinfo("simple/demo-app/index.v1_json")
    assert info is not None
    fresh = Path(updater.download_target(info, str(tmp_path / "new.json"))).read_bytes()
    assert b"demo_app-2.0-py3-none-any.whl" in fresh
    assert fresh == signed.page("demo-app", "index.v1_json").read_bytes()


def test_ngclient_rejects_a_tampered_page_copy(make_repo, serve, tmp_path) -> None:
    signed = make_repo()
    url = serve(signed.repo)
    updater = updater_for(url, signed.repo, tmp_path / "client")
    info = updater.get_targetinfo("simple/demo-core/index.html")
    assert info is not None
    copy = (
        signed.repo
        / "simple/demo-core"
        / layout.consistent_name("index.html", info.hashes["sha256"])
    )
    copy.write_bytes(copy.read_bytes().replace(b"demo_core-1.0", b"demo_core-6.6"))
    with pytest.raises(LengthOrHashMismatchError):
        updater.download_target(info, str(tmp_path / "page.html"))
