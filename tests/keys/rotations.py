"""Steps the rotation tests share: a client check, an online-key rotation, a forgery.

The repository is tests/conftest.py's ``make_repo``; the client is python-tuf's.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from securesystemslib.signer import Key

from tuf_pypi import layout
from tuf_pypi.repository import load_view
from tuf_pypi.repository import metadata as md_builder
from tuf_pypi.repository.ceremony import prepare_bins, prepare_root, sign_proposal
from tuf_pypi.repository.rotation import apply_proposals
from tuf_pypi.testing.ngclient import updater_for
from tuf_pypi.testing.signed_repo import SignedRepo

from .key_files import signer

__all__ = ["YEAR", "assert_client_gets_every_page", "old_key_timestamp", "rotate_online"]

YEAR = timedelta(days=365)


def assert_client_gets_every_page(signed: SignedRepo, url: str, cache: Path) -> None:
    """ngclient (cache ``cache``) refreshes from ``url`` and gets demo-core's page."""
    updater = updater_for(url, signed.repo, cache)
    updater.refresh()
    info = updater.get_targetinfo("simple/demo-core/index.html")
    assert info is not None
    path = updater.download_target(info, str(cache / "page.html"))
    assert Path(path).read_bytes() == signed.page("demo-core").read_bytes()


def rotate_online(signed: SignedRepo, new_online: Key) -> None:
    """Make ``new_online`` the online key: root and bins signed with the offline keys."""
    view = load_view(signed.storage)
    now = signed.clock()
    root = prepare_root(view.root, now, YEAR, online_key=new_online)
    bins = prepare_bins(view.bins, now, YEAR, online_key=new_online)
    sign_proposal(root, signer(signed.keys_dir / "root-1.key"))
    sign_proposal(bins, signer(signed.keys_dir / "bins.key"))
    report = apply_proposals(signed.publisher(), {"root": root, "bins": bins})
    assert report.bins_resigned == 4


def old_key_timestamp(signed: SignedRepo, old_online: Path) -> None:
    """What an attacker holding the old online key would serve."""
    view = load_view(signed.storage)
    snapshot = signed.storage.read_metadata(
        layout.metadata_filename("snapshot", view.snapshot.signed.version)
    )
    forged = md_builder.new_timestamp(
        snapshot, view.snapshot.signed.version, view.timestamp.signed.version + 1, signed.clock()
    )
    md_builder.sign(forged, [signer(old_online, online=True)])
    signed.storage.write_metadata("timestamp.json", md_builder.serialize(forged))
