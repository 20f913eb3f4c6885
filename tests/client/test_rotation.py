"""Key rotation: the client follows root 1 -> 2 -> 3 and a new online key, refuses what
the old key signs afterwards, refuses a root below its threshold, and recovers from an
online-key compromise once the key is rotated."""

from __future__ import annotations

from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import Metadata, Root
from tuf.api.serialization.json import JSONSerializer

from tuf_pypi.client import AllMirrorsFailedError, BadSignatureError, RollbackError
from tuf_pypi.keys import ONLINE_KDF, generate_key_file, load_key_file_signer
from tuf_pypi.testing.mirror_server import Serve
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE
from tuf_pypi.testing.signed_index import PASSPHRASE, Index, resign

from .checks import PROJECT, MakeClient, page_bytes, refused

_COMPACT = JSONSerializer(compact=True)


def _write_root(index: Index, root: Metadata[Root], signers: list[Signer]) -> None:
    root.signatures.clear()
    for signer in signers:
        root.sign(signer, append=True)
    data = root.to_bytes(_COMPACT)
    index.write(f"tuf/{root.signed.version}.root.json", data)
    index.write("tuf/root.json", data)


def rotate(index: Index) -> None:
    """Root v2 adds a root key (signed by old and new), root v3 drops the old root key
    and moves timestamp and snapshot to a new online key; then the publisher re-signs."""
    old_signer = load_key_file_signer(index.keys / "root-1.key", OFFLINE_PASSPHRASE)
    new_signer = CryptoSigner.generate_ed25519()
    root: Metadata[Root] = index.metadata("tuf/1.root.json")

    root.signed.version = 2
    root.signed.add_key(new_signer.public_key, "root")
    _write_root(index, root, [old_signer, new_signer])

    root.signed.version = 3
    root.signed.revoke_key(old_signer.public_key.keyid, "root")
    online = generate_key_file(index.keys / "online-2.key", PASSPHRASE, limits=ONLINE_KDF)
    for role in ("timestamp", "snapshot"):
        for keyid in list(root.signed.roles[role].keyids):
            root.signed.revoke_key(keyid, role)
        root.signed.add_key(online, role)
    _write_root(index, root, [new_signer])
    index.resign()


def cached_root_version(cache: Path) -> int:
    return Metadata.from_file(str(cache / "metadata" / "root.json")).signed.version


def test_client_follows_root_rotations_and_the_new_online_key(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    mirror = serve(index)
    make_client(mirror, cache=cache).refresh()
    assert cached_root_version(cache) == 1

    rotate(index)
    assert page_bytes(make_client(mirror, cache=cache)) == index.page_bytes(PROJECT)
    assert cached_root_version(cache) == 3
    # A client starting from the pinned v1 root follows the same chain.
    assert page_bytes(make_client(mirror)) == index.page_bytes(PROJECT)


def test_metadata_signed_by_the_rotated_out_key_is_refused(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    before = index.copy(tmp_path / "before")  # still signed by the old online key
    rotate(index)
    cache = tmp_path / "cache"
    honest = serve(index)
    make_client(honest, cache=cache).refresh()
    stale = serve(before)
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        make_client(stale, cache=cache).refresh()
    refused(excinfo, BadSignatureError)
    assert page_bytes(make_client(stale, honest, cache=cache)) == index.page_bytes(PROJECT)


def test_root_below_its_threshold_is_refused(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    honest = serve(index)
    old_signer = load_key_file_signer(index.keys / "root-1.key", OFFLINE_PASSPHRASE)
    root: Metadata[Root] = index.metadata("tuf/1.root.json")
    root.signed.version = 2
    root.signed.add_key(CryptoSigner.generate_ed25519().public_key, "root")
    root.signed.roles["root"].threshold = 2
    bad = serve(index)
    bad.hooks["tuf/2.root.json"] = lambda handler: handler.send_bytes(
        resign(root, old_signer)  # one signature where root v2 asks for two
    )
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        make_client(bad).refresh()
    refused(excinfo, BadSignatureError)
    assert page_bytes(make_client(bad, honest)) == index.page_bytes(PROJECT)


def test_rotating_the_online_key_recovers_from_a_fast_forward(
    index: Index,
    serve: Serve,
    make_client: MakeClient,
    online_signer: Signer,
    tmp_path: Path,
) -> None:
    # An attacker holding the online key signs timestamp v1000: the client trusts it,
    # and every honest (lower) timestamp looks like a rollback from then on.
    cache = tmp_path / "cache"
    honest = serve(index)
    forged = resign(index.metadata("tuf/timestamp.json"), online_signer, version=1000)
    bad = serve(index)
    bad.hooks["tuf/timestamp.json"] = lambda handler: handler.send_bytes(forged)
    make_client(bad, cache=cache).refresh()
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        make_client(honest, cache=cache).refresh()
    refused(excinfo, RollbackError)

    # The repository rotates the online key: the forged timestamp no longer verifies
    # against the new root, so the client drops it and trusts the honest one.
    rotate(index)
    assert page_bytes(make_client(honest, cache=cache)) == index.page_bytes(PROJECT)


def test_corrupt_cached_root_is_fetched_again(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    rotate(index)
    cache = tmp_path / "cache"
    mirror = serve(index)
    make_client(mirror, cache=cache).refresh()
    for version in (1, 3):
        (cache / "metadata" / "root_history" / f"{version}.root.json").write_bytes(b'{"sig')
    assert page_bytes(make_client(mirror, cache=cache)) == index.page_bytes(PROJECT)
    assert cached_root_version(cache) == 3
