"""mirror sync against a hostile upstream: names in signed metadata never escape the mirror.

The upstream here is a real signed index served on 127.0.0.1 whose keys the attacker
holds: the online key (it re-signs a bin, the snapshot and the timestamp, as anyone who
broke into the publishing host can), and for the checks behind those, an offline one.
Every forgery is made with python-tuf's Metadata API and signed validly, so only the
layout checks of the sync stand between it and the file system.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    SuccinctRoles,
    TargetFile,
    Targets,
)
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

from tuf_pypi import layout
from tuf_pypi.cli import main
from tuf_pypi.client import (
    AllMirrorsFailedError,
    Limits,
    SetupError,
    TooLargeError,
    VerificationError,
)
from tuf_pypi.keys import load_key_file_signer
from tuf_pypi.mirror.overlay import overlay_mirror
from tuf_pypi.mirror.sync import SyncOptions, sync_mirror
from tuf_pypi.repository import RepositoryStorage, load_view, verify_repository
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE
from tuf_pypi.testing.signed_repo import SignedRepo

from .helpers import Server

METADATA_MAX_BYTES = Limits().metadata_max_bytes
BINS = 16
PROJECT = "demo-app"
PAGE = layout.page_target(PROJECT, "index.v1_json")


class Attacker:
    """Holds an upstream's keys and re-signs its metadata, as a thief of those keys would."""

    def __init__(self, signed: SignedRepo) -> None:
        self.signed = signed
        self.tuf = signed.repo / layout.METADATA_DIR
        self.view = load_view(signed.storage)

    def key(self, name: str) -> Signer:
        secret = PASSPHRASE if name == "online" else OFFLINE_PASSPHRASE
        return load_key_file_signer(self.signed.keys_dir / f"{name}.key", secret)

    def current(self, role: str) -> Metadata:
        name = layout.metadata_filename(role, self.view.version_of(role))
        return Metadata.from_bytes((self.tuf / name).read_bytes())

    def bin_of(self, path: str) -> str:
        return layout.bin_name(layout.bin_index(path, BINS), BINS)

    def bin_delegating_to(self, name: str) -> str:
        """Re-sign PAGE's bin with a delegation to ``name`` (served too); returns the bin."""
        online = self.key("online")
        bin_role = self.bin_of(PAGE)
        md = self.current(bin_role)
        keyid = online.public_key.keyid
        md.signed.delegations = Delegations(
            keys={keyid: online.public_key},
            roles={name: DelegatedRole(name, [keyid], 1, True, [layout.PAGE_PATTERN])},
        )
        delegated = Metadata(Targets(version=1, expires=md.signed.expires))
        self.publish({bin_role: (md, online), name: (delegated, online)})
        return bin_role

    def publish(
        self,
        roles: dict[str, tuple[Metadata, Signer]],
        versions: dict[str, object] | None = None,
        snapshot_version: object = None,
    ) -> None:
        """Write ``roles`` re-signed at their next version, then a snapshot and timestamp.

        The snapshot lists each at that version (or at ``versions[role]``, which may be
        something no honest publisher writes). Files go where the upstream serves
        them; a name that is not a plain file name is served wherever a server would
        map its URL, so the fetch succeeds and only the sync's own checks refuse it.
        """
        online = self.key("online")
        snapshot = Metadata.from_bytes(
            (
                self.tuf / layout.metadata_filename("snapshot", self.view.snapshot.signed.version)
            ).read_bytes()
        )
        for role, (md, signer) in roles.items():
            listed = f"{role}.json" in snapshot.signed.meta
            md.signed.version = self.view.version_of(role) + 1 if listed else 1
            md.signatures.clear()
            md.sign(signer)
            version = (versions or {}).get(role, md.signed.version)
            snapshot.signed.meta[f"{role}.json"] = MetaFile(version)  # type: ignore[arg-type]
            self._serve(f"{version}.{role}.json", md.to_bytes())
        for role, version in (versions or {}).items():
            if role not in roles:  # the same file, listed at another "version"
                snapshot.signed.meta[f"{role}.json"] = MetaFile(version)  # type: ignore[arg-type]
        snapshot.signed.version = snapshot_version or snapshot.signed.version + 1
        snapshot.signatures.clear()
        snapshot.sign(online)
        snapshot_name = layout.metadata_filename("snapshot", snapshot.signed.version)
        (self.tuf / snapshot_name).write_bytes(snapshot.to_bytes())
        timestamp = Metadata.from_bytes((self.tuf / "timestamp.json").read_bytes())
        timestamp.signed.version += 1
        timestamp.signed.snapshot_meta = MetaFile(snapshot.signed.version)
        timestamp.signatures.clear()
        timestamp.sign(online)
        (self.tuf / "timestamp.json").write_bytes(timestamp.to_bytes())

    def _serve(self, name: str, data: bytes) -> None:
        """Serve ``tuf/<name>`` at the path its URL maps to (dot segments removed)."""
        if "\x00" in name:
            return  # no URL carries it; the sync must refuse the name before fetching
        path = self.signed.repo / posixpath.normpath(f"/{layout.METADATA_DIR}/{name}").lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _sync(
    signed: SignedRepo, url: str, mirror: Path, root: bytes | None = None, **options
) -> object:
    """Sync pinned to ``root`` (default: the upstream's 1.root.json as it is now)."""
    options.setdefault("state_dir", mirror.parent / f"{mirror.name}-state")
    return sync_mirror(
        url,
        mirror,
        root=root or (signed.repo / "tuf/1.root.json").read_bytes(),
        options=SyncOptions(**options),
        now=signed.clock(),
    )


def _tree(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def upstream(make_repo, http) -> tuple[SignedRepo, Server, Attacker]:
    signed = make_repo(bins=BINS, name="upstream")
    return signed, http(signed.repo), Attacker(signed)


@pytest.fixture
def synced(upstream, tmp_path):
    """A mirror synced from the honest upstream, then the attacker strikes."""
    signed, server, attacker = upstream
    mirror = tmp_path / "site" / "mirror"
    _sync(signed, server.url, mirror)
    return signed, server, attacker, mirror


def _assert_refused(sync: Callable[[], object], mirror: Path, *words: str) -> None:
    """The sync fails naming ``words``; the mirror and everything around it is unchanged."""
    site = mirror.parent
    before = _tree(site)
    with pytest.raises(VerificationError) as refused:
        sync()
    message = str(refused.value)
    for word in words:
        assert word in message, message
    after = _tree(site)
    allowed = (f"{mirror.name}/packages/", f"{mirror.name}-state/")  # unreachable; the lock
    assert all(p.startswith(allowed) for p in set(after) - set(before)), after.keys() - before
    assert {p: after[p] for p in before} == before


# -- role names -----------------------------------------------------------------------

#: Names an online-key holder delegates to from a bin: each would become a file name.
HOSTILE_NAMES = [
    "x/../../../escape",  # ../ out of tuf/ and the mirror
    "/tmp/escape",  # absolute
    "bin\x00escape",  # NUL
    "Bins",  # valid JSON, not a layout role name
    "bin-3",  # a bin name, but not from the hash-bin delegation
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_bin_delegating_anything_is_refused(synced, name) -> None:
    """The online key signs bins: a bin that delegates (to anything) is refused."""
    signed, server, attacker, mirror = synced
    bin_role = attacker.bin_delegating_to(name)
    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, bin_role, repr(name)
    )
    assert not (mirror.parent / "escape.json").exists()
    assert not Path("/tmp/escape.json").exists()


def test_a_bin_with_hash_bins_of_its_own_is_refused(synced) -> None:
    """A succinct delegation in a bin: its prefix names files, and 2^32 of them at most."""
    signed, server, attacker, mirror = synced
    online = attacker.key("online")
    bin_role = attacker.bin_of(PAGE)
    md = attacker.current(bin_role)
    succinct = SuccinctRoles([online.public_key.keyid], 1, 1, "../../../escape")
    md.signed.delegations = Delegations(
        keys={online.public_key.keyid: online.public_key}, succinct_roles=succinct
    )
    attacker.publish({bin_role: (md, online)})
    _assert_refused(
        lambda: _sync(signed, server.url, mirror),
        mirror,
        server.url,
        bin_role,
        "'../../../escape-*'",
    )


#: Delegated names as an upstream holding an offline key (or a buggy signer) writes them.
#: (python-tuf itself refuses empty and top-level role names in delegations.)
INVALID_NAMES = [
    "../escape",
    "/etc/escape",
    "bins\x00",
    "bins\n",
    "Bins",
    "..",
    "bin-0a",  # a bin name of the wrong width for 16 bins, and not from hash bins
    "bin-a",  # the right width, but bins come from the hash-bin delegation only
]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_delegated_role_names_are_refused(synced, name) -> None:
    signed, server, attacker, mirror = synced
    targets_key = attacker.key("targets")
    md = attacker.current("targets")
    delegations = md.signed.delegations
    assert delegations is not None and delegations.roles is not None
    keyids = delegations.roles["bins"].keyids
    roles = {name: DelegatedRole(name, keyids, 1, False, ["simple/*/*"])}
    roles.update(delegations.roles)
    delegations.roles = roles
    child = Metadata(Targets(version=1, expires=md.signed.expires))
    attacker.publish({"targets": (md, targets_key), name: (child, attacker.key("bins"))})

    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, "role targets", repr(name)
    )


def test_hash_bins_with_a_hostile_prefix_are_refused(synced) -> None:
    """The bins role's succinct prefix and width name every bin file."""
    signed, server, attacker, mirror = synced
    md = attacker.current("bins")
    succinct = md.signed.delegations.succinct_roles
    succinct.name_prefix = "../bin"
    attacker.publish({"bins": (md, attacker.key("bins"))})
    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, "role bins", "../bin-0"
    )


def test_a_role_version_that_is_not_an_integer_is_refused(upstream, tmp_path) -> None:
    """Versions name files too (``N.<role>.json``): python-tuf takes ``true`` for 1."""
    signed, server, attacker = upstream
    untouched = next(b for b in attacker.view.bin_names() if attacker.view.version_of(b) == 1)
    data = (attacker.tuf / f"1.{untouched}.json").read_bytes()
    (attacker.tuf / f"True.{untouched}.json").write_bytes(data)
    attacker.publish({}, versions={untouched: True})
    mirror = tmp_path / "site" / "mirror"
    mirror.parent.mkdir()
    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, untouched, "version"
    )


def test_a_snapshot_version_that_is_not_an_integer_is_refused(upstream, tmp_path) -> None:
    """The timestamp and the snapshot both say ``true``: python-tuf takes it for 1."""
    signed, server, attacker = upstream
    attacker.publish({}, snapshot_version=True)
    assert (attacker.tuf / "True.snapshot.json").is_file()
    mirror = tmp_path / "site" / "mirror"
    mirror.parent.mkdir()
    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, "role snapshot", "version"
    )


# -- target paths -----------------------------------------------------------------------


def _other_bin_page() -> str:
    """A valid page target path that does not hash into PAGE's bin."""
    home = layout.bin_index(PAGE, BINS)
    for i in range(1000):
        path = layout.page_target(f"p{i}", "index.html")
        if layout.bin_index(path, BINS) != home:
            return path
    raise AssertionError("no such path")


HOSTILE_PATHS = [
    "simple/../../../escape/index.html",
    "/tmp/escape/index.html",
    "simple/demo-app/index.html\x00",
    "simple/Demo_App/index.html",  # not normalized: another directory for one project
    "simple/demo-app/../index.html",
    "simple/demo-app/escape.html",  # not a page form
    "packages/escape.whl",  # not a page
    _other_bin_page(),  # a page, in the wrong bin
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_target_paths_in_a_bin_are_refused(synced, path) -> None:
    signed, server, attacker, mirror = synced
    bin_role = attacker.bin_of(PAGE)
    md = attacker.current(bin_role)
    data = b"<html>escaped</html>"
    md.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
    attacker.publish({bin_role: (md, attacker.key("online"))})
    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, bin_role, repr(path)
    )


def test_a_page_hash_that_is_not_a_sha256_is_refused(synced) -> None:
    """The sha256 names the page copy (``<sha256>.index.v1_json``)."""
    signed, server, attacker, mirror = synced
    bin_role = attacker.bin_of(PAGE)
    md = attacker.current(bin_role)
    md.signed.targets[PAGE].hashes["sha256"] = "../../../../escape"
    attacker.publish({bin_role: (md, attacker.key("online"))})
    _assert_refused(
        lambda: _sync(signed, server.url, mirror), mirror, server.url, bin_role, "sha256"
    )


def test_overlay_shares_the_checks(upstream, tmp_path) -> None:
    signed, server, attacker = upstream
    web = tmp_path / "site" / "web"
    (web / "simple" / PROJECT).mkdir(parents=True)
    bin_role = attacker.bin_delegating_to("x/../../../escape")
    _assert_refused(
        lambda: overlay_mirror(
            server.url,
            web,
            root=(signed.repo / "tuf/1.root.json").read_bytes(),
            options=SyncOptions(state_dir=tmp_path / "state"),
            now=signed.clock(),
        ),
        web,
        server.url,
        bin_role,
    )
    assert not (tmp_path / "site" / "escape.json").exists()


# -- the mirror's own tree ------------------------------------------------------------------


def test_the_command_names_the_role_and_the_upstream(synced) -> None:
    _signed, server, attacker, mirror = synced
    name = "x/../../../escape"
    bin_role = attacker.bin_delegating_to(name)
    state = mirror.parent / f"{mirror.name}-state"
    args = ["mirror", "sync", "--from", server.url, "--to", str(mirror), "--state-dir", str(state)]
    result = CliRunner().invoke(main, [*args, "-q"])
    assert result.exit_code == 1
    first, second = result.stderr.splitlines()
    assert first == (
        f"error: {server.url}/: role {bin_role} delegates to {name!r}, but a hash bin "
        "delegates nothing (DESIGN §4) [invalid metadata]"
    )
    assert second.endswith("is unchanged: it still serves timestamp v2")


def test_a_symlink_inside_the_mirror_cannot_lead_a_write_out(upstream, tmp_path) -> None:
    """A page directory that is a link out of simple/ is refused, not written through."""
    signed, server, _attacker = upstream
    mirror = tmp_path / "mirror"
    outside = tmp_path / "outside"
    outside.mkdir()
    (mirror / "simple").mkdir(parents=True)
    (mirror / "simple" / PROJECT).symlink_to(outside)
    with pytest.raises(SetupError, match="outside"):
        _sync(signed, server.url, mirror)
    assert list(outside.iterdir()) == []


# -- sizes ------------------------------------------------------------------------------


def test_an_oversized_metadata_file_is_refused(upstream, tmp_path) -> None:
    """The index signs a page whose PEP 658 file is larger than any METADATA needs."""
    signed, server, _attacker = upstream
    wheel = next(signed.repo.glob(f"packages/**/{PROJECT.replace('-', '_')}-*.whl"))
    metadata = wheel.with_name(wheel.name + ".metadata")
    old = hashlib.sha256(metadata.read_bytes()).hexdigest()
    big = b"Metadata-Version: 2.1\n" + b"x" * (METADATA_MAX_BYTES + 1)
    metadata.write_bytes(big)
    new = hashlib.sha256(big).hexdigest()
    for form in layout.PAGE_FORMS:
        page = signed.page(PROJECT, form)
        page.write_bytes(page.read_bytes().replace(old.encode(), new.encode()))
    signed.publisher().publish()

    mirror = tmp_path / "mirror"
    with pytest.raises(AllMirrorsFailedError) as refused:
        _sync(signed, server.url, mirror)
    assert any(isinstance(f.error, TooLargeError) for f in refused.value.failures)
    assert f"{wheel.name}.metadata" in str(refused.value)
    assert not (mirror / "tuf/timestamp.json").exists()
    assert not [p for p in mirror.rglob("*.metadata") if p.stat().st_size > METADATA_MAX_BYTES]
    assert not verify_repository(RepositoryStorage(mirror), signed.clock()).ok


# -- roots ------------------------------------------------------------------------------


def test_a_forged_older_root_is_not_copied(upstream, tmp_path) -> None:
    """Upstream serves a forged 1.root.json that python-tuf's chain checks accept.

    It lists the real root key *and* the forger's (threshold 1), is signed by the
    forger alone, and the pinned root v2 (signed by the real key) verifies against
    it. No check can tell it from the real v1, so it must not reach the mirror, where
    ``tuf-pypi verify`` would report it OK and clients pinned to v1 would fail.
    """
    signed, server, attacker = upstream
    real_key = attacker.key("root-1")
    v1 = Metadata.from_bytes((attacker.tuf / "1.root.json").read_bytes())
    v2 = Metadata.from_bytes(v1.to_bytes())
    v2.signed.version = 2
    v2.signatures.clear()
    v2.sign(real_key)
    (attacker.tuf / "2.root.json").write_bytes(v2.to_bytes())
    forger = CryptoSigner.generate_ed25519()
    forged = Metadata.from_bytes(v1.to_bytes())
    forged.signed.add_key(forger.public_key, "root")
    forged.signed.roles["root"].threshold = 1
    for role in ("timestamp", "snapshot", "targets"):
        forged.signed.add_key(forger.public_key, role)
    forged.signatures.clear()
    forged.sign(forger)
    (attacker.tuf / "1.root.json").write_bytes(forged.to_bytes())
    chain = TrustedMetadataSet(forged.to_bytes(), EnvelopeType.METADATA)
    chain.update_root(v2.to_bytes())  # the forgery passes every chain check

    mirror = tmp_path / "mirror"
    _sync(signed, server.url, mirror, root=v2.to_bytes())
    assert not (mirror / "tuf/1.root.json").exists()
    assert (mirror / "tuf/2.root.json").read_bytes() == v2.to_bytes()
    report = verify_repository(RepositoryStorage(mirror), signed.clock())
    assert not report.ok and "1.root.json: missing" in " ".join(report.problems)

    # Pinned to the real v1, the mirror holds the real v1 whatever upstream serves.
    honest = tmp_path / "honest"
    _sync(signed, server.url, honest, root=v1.to_bytes())
    assert (honest / "tuf/1.root.json").read_bytes() == v1.to_bytes()
    assert (honest / "tuf/2.root.json").read_bytes() == v2.to_bytes()
    assert verify_repository(RepositoryStorage(honest), signed.clock()).ok
