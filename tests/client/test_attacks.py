"""An attack for every check: each is refused with its typed error, and with an honest
mirror listed after the malicious one, the same call returns the right bytes."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner, Signer

from tuf_pypi.client import (
    AllMirrorsFailedError,
    BadSignatureError,
    Client,
    FrozenError,
    MixAndMatchError,
    RollbackError,
    TamperedError,
    TooLargeError,
    VerificationError,
)
from tuf_pypi.testing.mirror_server import MirrorServer, Serve, replace
from tuf_pypi.testing.signed_index import Index, resign, sha256, timestamp_for

from .checks import PROJECT, Action, MakeClient, page_bytes, refused, wheel_bytes


def attack(
    make_client: MakeClient,
    bad: MirrorServer,
    honest: MirrorServer,
    action: Action,
    error: type,
    cache: Path | None = None,
) -> bytes:
    """Refused on ``bad`` alone with ``error``; return what ``[bad, honest]`` gives.

    Failover must not hide the attack: the client lists ``bad``'s refused answer with
    its attack class, and logs it at WARNING naming the mirror.
    """
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        action(make_client(bad, cache=cache))
    refused(excinfo, error)
    client = make_client(bad, honest, cache=cache)
    with _warnings() as logged:
        result = action(client)
    kinds = {(r.mirror, r.kind, r.attack) for r in client.refusals}
    assert kinds == {(bad.url, error.kind, True)}, client.refusals
    assert any(bad.url in line and f"(attack class: {error.kind})" in line for line in logged), (
        logged
    )
    return result


@contextlib.contextmanager
def _warnings() -> Iterator[list[str]]:
    """The WARNING lines the client logs meanwhile."""
    lines: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("tuf_pypi")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


# -- tampered files and pages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("forge", "error"),
    [
        pytest.param(lambda data: bytes(len(data)), TamperedError, id="same-size"),
        pytest.param(lambda data: data[:-10], TamperedError, id="truncated"),
        pytest.param(lambda data: data + b"\0", TooLargeError, id="longer"),
    ],
)
def test_tampered_distribution_file(
    index: Index,
    serve: Serve,
    make_client: MakeClient,
    tmp_path: Path,
    forge: Callable[[bytes], bytes],
    error: type,
) -> None:
    rel, data = index.wheel(PROJECT)
    bad, honest = serve(index), serve(index)
    bad.hooks[rel] = replace(forge(data))
    assert attack(make_client, bad, honest, wheel_bytes(tmp_path / "dl"), error) == data


def test_tampered_core_metadata_file(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    rel, _ = index.wheel(PROJECT)
    good = index.read(rel + ".metadata")
    bad, honest = serve(index), serve(index)
    bad.hooks[rel + ".metadata"] = replace(good.replace(b"Version", b"Versi0n"))

    def action(client: Client) -> bytes:
        page = client.page(PROJECT)
        return client.download_metadata(page, page.page.files[0], tmp_path).read_bytes()

    assert attack(make_client, bad, honest, action, TamperedError) == good


def test_page_pointing_at_an_evil_file_with_its_hash(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    # The page says exactly what the evil file hashes to, so hash chaining alone would
    # accept the file: the page copy itself must fail its TUF target hash.
    evil = b"not the real wheel"
    rel, data = index.wheel(PROJECT)
    evil_rel = "packages/evil/" + rel.rsplit("/", 1)[1]
    (index.repo / evil_rel).parent.mkdir(parents=True)
    index.write(evil_rel, evil)
    page = json.loads(index.page_bytes(PROJECT))
    page["files"][0].update(
        url="../../" + evil_rel, hashes={"sha256": sha256(evil)}, size=len(evil)
    )
    bad, honest = serve(index), serve(index)
    bad.hooks[index.page_path(PROJECT)] = replace(json.dumps(page).encode())

    assert attack(make_client, bad, honest, wheel_bytes(tmp_path / "dl"), TamperedError) == data
    assert bad.count(evil_rel) == 0


@pytest.mark.parametrize("other", ["demo-lib", "demo-extra"])
def test_another_projects_valid_page(
    index: Index, serve: Serve, make_client: MakeClient, other: str
) -> None:
    # A longer page stops at the signed length, a shorter one fails the hash.
    own, forged = index.page_bytes(PROJECT), index.page_bytes(other)
    error = TooLargeError if len(forged) > len(own) else TamperedError
    bad, honest = serve(index), serve(index)
    bad.hooks[index.page_path(PROJECT)] = replace(forged)
    assert attack(make_client, bad, honest, page_bytes, error) == own


# -- signatures ---------------------------------------------------------------------------


def _edit_signed(data: bytes, edit: Callable[[dict], None]) -> bytes:
    doc = json.loads(data)
    edit(doc["signed"])
    return json.dumps(doc, separators=(",", ":")).encode()


def test_timestamp_altered_without_resigning(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    bad, honest = serve(index), serve(index)
    forged = _edit_signed(index.read("tuf/timestamp.json"), lambda s: s.update(version=99))
    bad.hooks["tuf/timestamp.json"] = replace(forged)
    result = attack(make_client, bad, honest, page_bytes, BadSignatureError)
    assert result == index.page_bytes(PROJECT)


def test_bin_altered_without_resigning(index: Index, serve: Serve, make_client: MakeClient) -> None:
    # Bins are pinned by version only (no hash in the snapshot): the signature is what
    # stops a mirror from pointing a page target at other bytes.
    path = index.role_path(index.bin_of(PROJECT))
    forged = _edit_signed(
        index.read(path),
        lambda s: [t["hashes"].update(sha256="0" * 64) for t in s["targets"].values()],
    )
    bad, honest = serve(index), serve(index)
    bad.hooks[path] = replace(forged)
    result = attack(make_client, bad, honest, page_bytes, BadSignatureError)
    assert result == index.page_bytes(PROJECT)


def test_snapshot_altered(index: Index, serve: Serve, make_client: MakeClient) -> None:
    path = index.role_path("snapshot")
    forged = _edit_signed(index.read(path), lambda s: s.update(expires="2100-01-01T00:00:00Z"))
    bad, honest = serve(index), serve(index)
    bad.hooks[path] = replace(forged)
    result = attack(make_client, bad, honest, page_bytes, TamperedError)
    assert result == index.page_bytes(PROJECT)


def test_timestamp_signed_by_a_key_root_does_not_list(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    rogue = CryptoSigner.generate_ed25519()
    md = index.metadata("tuf/timestamp.json")
    bad, honest = serve(index), serve(index)
    bad.hooks["tuf/timestamp.json"] = replace(resign(md, rogue, version=md.signed.version + 1))
    result = attack(make_client, bad, honest, page_bytes, BadSignatureError)
    assert result == index.page_bytes(PROJECT)


# -- rollback, freeze, mix-and-match ----------------------------------------------------------


def _seen_newer(make_client: MakeClient, newer: MirrorServer, cache: Path) -> None:
    """A client run that trusted the newer state, leaving it in ``cache``."""
    make_client(newer, cache=cache).refresh()


def test_timestamp_rollback(
    index: Index, newer: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    honest = serve(newer)
    _seen_newer(make_client, honest, cache)
    old = serve(index)  # an older copy of the same repository, e.g. a replay
    result = attack(make_client, old, honest, page_bytes, RollbackError, cache=cache)
    assert result == newer.page_bytes(PROJECT)


def test_snapshot_rollback_with_the_stolen_online_key(
    index: Index,
    newer: Index,
    serve: Serve,
    make_client: MakeClient,
    online_signer: Signer,
    tmp_path: Path,
) -> None:
    # A fresh, validly signed timestamp that points back at an older snapshot.
    cache = tmp_path / "cache"
    honest = serve(newer)
    _seen_newer(make_client, honest, cache)
    version = newer.metadata("tuf/timestamp.json").signed.version + 1
    forged = timestamp_for(newer, index.read(index.role_path("snapshot")), online_signer, version)
    bad = serve(newer)
    bad.hooks["tuf/timestamp.json"] = replace(forged)
    result = attack(make_client, bad, honest, page_bytes, RollbackError, cache=cache)
    assert result == newer.page_bytes(PROJECT)


def test_bin_rollback_with_the_stolen_online_key(
    index: Index,
    newer: Index,
    serve: Serve,
    make_client: MakeClient,
    online_signer: Signer,
    tmp_path: Path,
) -> None:
    # A fresh snapshot (and timestamp) listing an older version of one bin.
    cache = tmp_path / "cache"
    honest = serve(newer)
    _seen_newer(make_client, honest, cache)
    role = index.bin_of(PROJECT)
    snapshot = newer.metadata(newer.role_path("snapshot"))
    snapshot.signed.meta[f"{role}.json"].version = index.metadata(
        index.role_path(role)
    ).signed.version
    version = snapshot.signed.version + 1
    forged_snapshot = resign(snapshot, online_signer, version=version)
    forged_timestamp = timestamp_for(
        newer,
        forged_snapshot,
        online_signer,
        newer.metadata("tuf/timestamp.json").signed.version + 1,
    )
    bad = serve(newer)
    bad.hooks[f"tuf/{version}.snapshot.json"] = replace(forged_snapshot)
    bad.hooks["tuf/timestamp.json"] = replace(forged_timestamp)
    with pytest.raises(AllMirrorsFailedError) as excinfo:
        page_bytes(make_client(bad, honest, cache=cache))
    # The forged timestamp is validly signed, so the client keeps it (TUF trusts a
    # timestamp before it checks the snapshot): the honest mirror's older timestamp is
    # now a rollback too. Holding the online key, an attacker can fast-forward clients
    # and deny service, never serve them old pages; rotating the online key in root
    # recovers them (see test_rotation.py).
    refused(excinfo, RollbackError, RollbackError)


def test_mix_and_match_an_older_bin_into_a_newer_snapshot(
    index: Index, newer: Index, serve: Serve, make_client: MakeClient
) -> None:
    role = index.bin_of(PROJECT)
    bad, honest = serve(newer), serve(newer)
    bad.hooks[newer.role_path(role)] = replace(index.read(index.role_path(role)))
    result = attack(make_client, bad, honest, page_bytes, MixAndMatchError)
    assert result == newer.page_bytes(PROJECT)


def test_freeze_with_expired_metadata(
    index: Index, frozen_index: Index, serve: Serve, make_client: MakeClient
) -> None:
    frozen = serve(frozen_index)  # validly signed, newer versions, but expired
    honest = serve(index)
    result = attack(make_client, frozen, honest, page_bytes, FrozenError)
    assert result == index.page_bytes(PROJECT)


def test_snapshot_dropping_a_role_with_the_stolen_online_key(
    index: Index,
    newer: Index,
    serve: Serve,
    make_client: MakeClient,
    online_signer: Signer,
    tmp_path: Path,
) -> None:
    """A fresh, validly signed snapshot that no longer lists a bin the trusted one lists:
    inconsistent metadata (no narrower class names it), refused and shown behind the
    honest mirror like any attack."""
    cache = tmp_path / "cache"
    _seen_newer(make_client, serve(index), cache)
    snapshot = index.metadata(index.role_path("snapshot"))
    del snapshot.signed.meta[f"{index.bin_of(PROJECT)}.json"]
    version = snapshot.signed.version + 1
    forged_snapshot = resign(snapshot, online_signer, version=version)
    timestamp_version = index.metadata("tuf/timestamp.json").signed.version + 1
    forged = timestamp_for(index, forged_snapshot, online_signer, timestamp_version)
    bad = serve(index)
    bad.hooks[f"tuf/{version}.snapshot.json"] = replace(forged_snapshot)
    bad.hooks["tuf/timestamp.json"] = replace(forged)
    # The forged timestamp is validly signed, so the client keeps it (see the bin rollback
    # test above); the honest mirror has since published twice, and outranks it.
    newer.resign()
    honest = serve(newer)
    result = attack(make_client, bad, honest, page_bytes, VerificationError, cache=cache)
    assert result == newer.page_bytes(PROJECT)
