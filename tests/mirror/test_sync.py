"""mirror sync: a verified, incremental copy that clients use like the upstream."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata

from tuf_pypi import layout
from tuf_pypi.cli import main
from tuf_pypi.client import (
    AllMirrorsFailedError,
    BadSignatureError,
    Client,
    ClientError,
    RollbackError,
    SetupError,
    TamperedError,
)
from tuf_pypi.keys import ONLINE_KDF, generate_key_file, load_key_file_signer
from tuf_pypi.mirror import sync as mirror_module
from tuf_pypi.mirror.sync import SyncOptions, SyncReport, sync_mirror
from tuf_pypi.mirror.tree import MirrorTree, sync_lock
from tuf_pypi.repository import LockBusyError, RepositoryStorage, load_view, verify_repository
from tuf_pypi.repository.gc import collect_garbage
from tuf_pypi.repository.storage import publisher_lock
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE
from tuf_pypi.testing.signed_repo import SignedRepo

from .helpers import Server, age_tree


def _sync(signed: SignedRepo, url: str, dest: Path, root: bool = True, **options) -> SyncReport:
    options.setdefault("state_dir", dest.parent / f"{dest.name}-state")
    return sync_mirror(
        url,
        dest,
        root=(signed.repo / "tuf/1.root.json").read_bytes() if root else None,
        options=SyncOptions(**options),
        now=signed.clock(),
    )


def _served(tree: Path) -> dict[str, bytes]:
    """Every file a client may ask for (no .gz siblings), by path."""
    return {
        p.relative_to(tree).as_posix(): p.read_bytes()
        for p in tree.rglob("*")
        if p.is_file() and p.suffix != ".gz" and not p.name.startswith(".")
    }


def _assert_valid_mirror(signed: SignedRepo, mirror: Path) -> None:
    report = verify_repository(RepositoryStorage(mirror), signed.clock())
    assert report.ok, report.problems
    assert not report.pending  # live pages are the signed ones
    upstream = _served(signed.repo)
    for path, data in _served(mirror).items():
        if path not in ("simple/index.html", "simple/index.v1_json"):
            assert upstream[path] == data, path  # byte for byte


def _client_installs(url: str, signed: SignedRepo, cache: Path, project: str = "demo-app") -> None:
    with Client([url], signed.repo / "tuf/1.root.json", cache) as client:
        page = client.page(project)
        assert page.data == signed.page(project, "index.v1_json").read_bytes()
        for link in page.page.files:
            path = client.download(page, link, cache / "dl")
            assert (
                path.read_bytes()
                == (signed.repo / "packages")
                .joinpath(link.url.split("/packages/", 1)[1])
                .read_bytes()
            )
            client.download_metadata(page, link, cache / "dl")


@pytest.fixture
def upstream(make_repo, http) -> tuple[SignedRepo, Server]:
    signed = make_repo()
    return signed, http(signed.repo)


def test_full_sync_serves_clients_like_the_upstream(upstream, http, tmp_path) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    report = _sync(signed, server.url, mirror)

    assert report.previous_timestamp is None and report.switched
    view = load_view(signed.storage)
    assert report.timestamp == view.timestamp.signed.version
    current = {layout.metadata_filename("snapshot", view.snapshot.signed.version)}
    current |= {f"{m.version}.{name}" for name, m in view.snapshot.signed.meta.items()}
    assert set(report.roles) == current
    assert report.roots == [1]
    wheels = {p.relative_to(signed.repo).as_posix() for p in signed.repo.glob("packages/**/*.whl")}
    assert wheels and wheels | {w + ".metadata" for w in wheels} == set(report.files)
    assert (mirror / "tuf/root.json").read_bytes() == (signed.repo / "tuf/1.root.json").read_bytes()
    assert (mirror / f"tuf/{report.snapshot}.snapshot.json.gz").is_file()
    assert not (mirror / "tuf/timestamp.json.gz").exists()  # changes in place: never
    _assert_valid_mirror(signed, mirror)
    assert "demo-app" in (mirror / "simple/index.html").read_text()

    _client_installs(http(mirror).url, signed, tmp_path / "client")


def test_incremental_sync_copies_only_what_changed(upstream, tmp_path) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    first = _sync(signed, server.url, mirror)
    server.take()

    again = _sync(signed, server.url, mirror)
    assert not again.switched and again.roles == again.pages == again.files == []
    assert server.take() == ["/tuf/2.root.json", "/tuf/timestamp.json"]

    before = load_view(signed.storage)
    add_release(signed.repo, SampleDist("demo-app", "2.0"))
    signed.publisher().publish()
    after = load_view(signed.storage)
    report = _sync(signed, server.url, mirror)

    changed_bins = {n for n in after.bin_names() if after.version_of(n) != before.version_of(n)}
    assert report.previous_timestamp == first.timestamp and report.switched
    assert set(report.roles) == {
        *(layout.metadata_filename(b, after.version_of(b)) for b in changed_bins),
        layout.metadata_filename("snapshot", after.snapshot.signed.version),
    }
    assert {p.rsplit(".", 1)[0].split(".", 1)[1] for p in report.pages} == {"index"}
    assert len(report.pages) == 2 and all(p.startswith("simple/demo-app/") for p in report.pages)
    assert [Path(f).name for f in report.files] == [
        "demo_app-2.0-py3-none-any.whl",
        "demo_app-2.0-py3-none-any.whl.metadata",
    ]
    assert report.files_present == 4  # demo-app 1.0 and 1.1, and their .metadata
    requested = server.take()
    assert not [p for p in requested if "demo-core" in p or "demo-lib" in p]
    assert len([p for p in requested if p.startswith("/tuf/")]) == 2 + len(report.roles)
    _assert_valid_mirror(signed, mirror)


def _republish_with(signed: SignedRepo, version: str) -> None:
    add_release(signed.repo, SampleDist("demo-app", version))
    signed.publisher().publish()


def _new_copy(signed: SignedRepo) -> Path:
    data = signed.page("demo-app", "index.v1_json").read_bytes()
    name = layout.consistent_name("index.v1_json", hashlib.sha256(data).hexdigest())
    return signed.repo / "simple/demo-app" / name


def _tamper_page(signed: SignedRepo) -> None:
    copy = _new_copy(signed)
    copy.write_bytes(copy.read_bytes().replace(b"demo_app-2.0", b"demo_app-6.6"))


def _tamper_bin(signed: SignedRepo) -> None:
    view = load_view(signed.storage)
    name = view.bin_of("simple/demo-app/index.v1_json")
    path = signed.repo / "tuf" / layout.metadata_filename(name, view.version_of(name))
    md = Metadata.from_bytes(path.read_bytes())
    target = md.signed.targets["simple/demo-app/index.v1_json"]
    target.length += 1  # an attacker's edit: the signature no longer matches
    path.write_bytes(md.to_bytes())


def _tamper_wheel(signed: SignedRepo) -> None:
    wheel = next(signed.repo.glob("packages/**/demo_app-2.0-py3-none-any.whl"))
    wheel.write_bytes(wheel.read_bytes()[:-1] + b"!")


@pytest.mark.parametrize(
    ("tamper", "error"),
    [(_tamper_page, TamperedError), (_tamper_bin, BadSignatureError), (_tamper_wheel, ClientError)],
)
def test_tampered_upstream_is_refused_and_the_mirror_keeps_its_state(
    upstream, http, tmp_path, tamper, error
) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    _sync(signed, server.url, mirror)
    before = _served(mirror)
    _republish_with(signed, "2.0")
    tamper(signed)

    with pytest.raises(error) as refused:
        _sync(signed, server.url, mirror)
    if error is ClientError:
        assert isinstance(refused.value, AllMirrorsFailedError)
        assert "does not match" in str(refused.value)
    after = _served(mirror)
    assert {p: after[p] for p in before} == before  # nothing the mirror served changed
    assert after["tuf/timestamp.json"] == before["tuf/timestamp.json"]
    assert not [p for p in set(after) - set(before) if "6.6" in p]
    report = verify_repository(RepositoryStorage(mirror), signed.clock())
    assert report.ok and not report.pending
    with Client([http(mirror).url], signed.repo / "tuf/1.root.json", tmp_path / "c") as client:
        assert b"demo_app-2.0" not in client.page("demo-app").data


def test_rollback_of_the_upstream_is_refused(upstream, make_repo, tmp_path) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    old_timestamp = (signed.repo / "tuf/timestamp.json").read_bytes()
    _republish_with(signed, "2.0")
    _sync(signed, server.url, mirror)
    (signed.repo / "tuf/timestamp.json").write_bytes(old_timestamp)
    with pytest.raises(RollbackError):
        _sync(signed, server.url, mirror)


def test_first_sync_needs_a_pinned_root(upstream, tmp_path) -> None:
    signed, server = upstream
    with pytest.raises(SetupError, match="--root"):
        _sync(signed, server.url, tmp_path / "mirror", root=False)
    with pytest.raises(SetupError, match="inside the mirror"):
        _sync(signed, server.url, tmp_path / "m", state_dir=tmp_path / "m" / "state")


def test_mirror_of_a_mirror(upstream, http, tmp_path) -> None:
    signed, server = upstream
    first = tmp_path / "first"
    _sync(signed, server.url, first)
    first_url = http(first).url
    second = tmp_path / "second"
    report = _sync(signed, first_url, second)
    assert len(report.files) == 2 * len(list(signed.repo.glob("packages/**/*.whl")))
    _assert_valid_mirror(signed, second)

    _republish_with(signed, "2.0")
    _sync(signed, server.url, first)
    report = _sync(signed, first_url, second, root=False)  # trusts its own root now
    assert len(report.pages) == 2 and len(report.files) == 2
    _assert_valid_mirror(signed, second)
    _client_installs(http(second).url, signed, tmp_path / "client")


def test_partial_mirror(upstream, http, tmp_path) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    report = _sync(signed, server.url, mirror, projects=frozenset({"demo-app"}))
    assert {p.split("/")[1] for p in report.pages} == {"demo-app"}
    assert all("demo_app" in f for f in report.files)
    assert sorted(p.name for p in (mirror / "simple").iterdir()) == [
        "demo-app",
        "index.html",
        "index.v1_json",
    ]
    url = http(mirror).url
    _client_installs(url, signed, tmp_path / "client")
    with (
        Client([url], signed.repo / "tuf/1.root.json", tmp_path / "c2") as client,
        pytest.raises(AllMirrorsFailedError, match=r"demo-lib.*404"),
    ):
        client.page("demo-lib")

    # Adding a project later: its bin did not change, yet its pages and files come over.
    report = _sync(signed, server.url, mirror, projects=frozenset({"demo-app", "demo-lib"}))
    assert not report.switched
    assert {p.split("/")[1] for p in report.pages} == {"demo-lib"}
    assert report.files and all("demo_lib" in f for f in report.files)
    _client_installs(url, signed, tmp_path / "client3", project="demo-lib")


def _root_v2(signed: SignedRepo) -> Metadata:
    """Root v2, signed by the root key of v1 (no key changes): served upstream."""
    root = Metadata.from_bytes((signed.repo / "tuf/1.root.json").read_bytes())
    root.signed.version = 2
    root.signatures.clear()
    root.sign(load_key_file_signer(signed.keys_dir / "root-1.key", OFFLINE_PASSPHRASE))
    (signed.repo / "tuf/2.root.json").write_bytes(root.to_bytes())
    (signed.repo / "tuf/root.json").write_bytes(root.to_bytes())
    return root


def test_root_versions_are_copied_and_followed(upstream, http, tmp_path) -> None:
    signed, server = upstream
    _root_v2(signed)
    # Pinned to root v1: v2 is verified by v1 and copied too.
    report = _sync(signed, server.url, tmp_path / "mirror")
    assert report.roots == [1, 2]
    _assert_valid_mirror(signed, tmp_path / "mirror")
    _client_installs(http(tmp_path / "mirror").url, signed, tmp_path / "client")


def test_roots_below_the_pinned_one_are_not_copied(upstream, http, tmp_path) -> None:
    """Nothing the pinned root v2 vouches for says what v1 was: v1 stays off the mirror."""
    signed, server = upstream
    root = _root_v2(signed)
    mirror = tmp_path / "mirror"
    progress: list[str] = []
    report = sync_mirror(
        server.url,
        mirror,
        root=root.to_bytes(),
        options=SyncOptions(state_dir=tmp_path / "state"),
        now=signed.clock(),
        progress=progress.append,
    )
    assert report.roots == [2] and report.switched and report.roots_not_copied == [1]
    assert sorted(p.name for p in mirror.glob("tuf/*.root.json")) == ["2.root.json"]
    assert any("root versions 1 to 1 not copied" in line for line in progress), progress
    pinned = tmp_path / "root-v2.json"
    pinned.write_bytes(root.to_bytes())
    with Client([http(mirror).url], pinned, tmp_path / "client") as client:
        assert client.page("demo-app").data == signed.page("demo-app", "index.v1_json").read_bytes()

    stranger = Metadata.from_bytes(root.to_bytes())
    with pytest.raises(BadSignatureError, match="timestamp"):
        sync_mirror(
            server.url,
            tmp_path / "m2",
            root=_resigned_by_a_stranger(stranger),
            options=SyncOptions(state_dir=tmp_path / "s2"),
            now=signed.clock(),
        )


def _resigned_by_a_stranger(root: Metadata) -> bytes:
    """A self-signed root whose keys the index never used."""
    stranger = CryptoSigner.generate_ed25519()
    for role in root.signed.roles:
        for keyid in list(root.signed.roles[role].keyids):
            root.signed.revoke_key(keyid, role)
        root.signed.add_key(stranger.public_key, role)
    root.signatures.clear()
    root.sign(stranger)
    return root.to_bytes()


def test_gc_on_a_mirror_keeps_it_valid(upstream, tmp_path) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    state = tmp_path / "mirror-state"
    _sync(signed, server.url, mirror)
    for version in ("2.0", "3.0"):
        _republish_with(signed, version)
        _sync(signed, server.url, mirror)
    age_tree(mirror, 3 * 86400)
    report = collect_garbage(RepositoryStorage(mirror), state / "publish.lock", signed.clock())
    assert report.deleted_metadata and report.deleted_pages
    _assert_valid_mirror(signed, mirror)
    _republish_with(signed, "4.0")
    assert _sync(signed, server.url, mirror).switched
    _assert_valid_mirror(signed, mirror)


def test_mirror_sync_command(upstream, tmp_path) -> None:
    signed, server = upstream
    mirror, state = tmp_path / "mirror", tmp_path / "state"
    args = ["mirror", "sync", "--from", server.url, "--to", str(mirror), "--state-dir", str(state)]
    root = ["--root", str(signed.repo / "tuf/1.root.json")]
    runner = CliRunner()

    first = runner.invoke(main, [*args, *root])
    assert first.exit_code == 0, first.output
    assert "timestamp v0 -> v2" in first.stdout
    assert "projects 4/4" in first.stderr  # progress

    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["switched"] if False else not json.loads(result.stdout)["pages"]
    )

    _republish_with(signed, "2.0")
    _tamper_page(signed)
    refused = runner.invoke(main, [*args, "-q"])
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        refused.stderr.splitlines()[0],
        f"error: {mirror} is unchanged: it still serves timestamp v2",
    ]
    assert refused.stderr.startswith("error: ") and "[tampered]" in refused.stderr

    bad = runner.invoke(main, [*args, "--project", "no/such"])
    assert bad.exit_code == 2 and "not a valid project name" in bad.output
    nothing = runner.invoke(
        main, ["mirror", "sync", "--from", server.url, "--to", str(tmp_path / "n")]
    )
    assert nothing.exit_code == 1 and "--root" in nothing.stderr


class _Crash(BaseException):
    """The process dying at a write: nothing after it runs."""


def test_timestamp_is_switched_last_and_a_crash_anywhere_is_harmless(
    upstream, monkeypatch, tmp_path
) -> None:
    signed, server = upstream
    template = tmp_path / "template"
    _sync(signed, server.url, template)
    _republish_with(signed, "2.0")
    writes: list[str] = []
    real_write = MirrorTree.write

    def recording(self, relpath: str, data: bytes) -> None:
        writes.append(relpath)
        real_write(self, relpath, data)

    real_fetch = mirror_module.fetch_file

    def recording_fetch(fetcher, expected, urls, dest_dir, max_bytes):
        writes.append((Path(dest_dir) / expected.filename).as_posix())
        return real_fetch(fetcher, expected, urls, dest_dir, max_bytes)

    monkeypatch.setattr(MirrorTree, "write", recording)
    monkeypatch.setattr(mirror_module, "fetch_file", recording_fetch)
    shutil.copytree(template, tmp_path / "count")
    shutil.copytree(tmp_path / "template-state", tmp_path / "count-state")
    _sync(signed, server.url, tmp_path / "count")
    switch = writes.index("tuf/timestamp.json")
    assert all(not w.startswith("tuf/") for w in writes[switch + 1 :])
    assert {w.split("/")[0] for w in writes[switch + 1 :]} <= {"simple"}  # live pages only
    assert any("packages/" in w for w in writes[:switch])
    total = len(writes)

    for crash_at in range(total):
        mirror = tmp_path / f"crash-{crash_at}"
        shutil.copytree(template, mirror)
        shutil.copytree(tmp_path / "template-state", tmp_path / f"crash-{crash_at}-state")
        count = iter(range(total))

        def crashing(self, relpath: str, data: bytes, count=count, crash_at=crash_at) -> None:
            if next(count) == crash_at:
                raise _Crash(relpath)
            real_write(self, relpath, data)

        def crashing_fetch(fetcher, expected, urls, dest_dir, max_bytes, count=count, at=crash_at):
            if next(count) == at:
                raise _Crash(expected.filename)
            return real_fetch(fetcher, expected, urls, dest_dir, max_bytes)

        monkeypatch.setattr(MirrorTree, "write", crashing)
        monkeypatch.setattr(mirror_module, "fetch_file", crashing_fetch)
        with pytest.raises(_Crash):
            _sync(signed, server.url, mirror, jobs=1)
        monkeypatch.setattr(MirrorTree, "write", real_write)
        monkeypatch.setattr(mirror_module, "fetch_file", real_fetch)
        state = verify_repository(RepositoryStorage(mirror), signed.clock())
        assert state.ok, (crash_at, state.problems)
        # Crashed before the switch: the old state; after it: only live pages lag.
        _sync(signed, server.url, mirror, root=False)
        _assert_valid_mirror(signed, mirror)


def test_mirror_follows_a_rotation_of_the_online_key(upstream, http, tmp_path) -> None:
    signed, server = upstream
    mirror = tmp_path / "mirror"
    _sync(signed, server.url, mirror)

    root = Metadata.from_bytes((signed.repo / "tuf/1.root.json").read_bytes())
    root.signed.version = 2
    online = generate_key_file(signed.keys_dir / "online-2.key", PASSPHRASE, limits=ONLINE_KDF)
    for role in ("timestamp", "snapshot"):
        for keyid in list(root.signed.roles[role].keyids):
            root.signed.revoke_key(keyid, role)
        root.signed.add_key(online, role)
    root.signatures.clear()
    root.sign(load_key_file_signer(signed.keys_dir / "root-1.key", OFFLINE_PASSPHRASE))
    for name in ("2.root.json", "root.json"):
        (signed.repo / "tuf" / name).write_bytes(root.to_bytes())
    signed.publisher().refresh(timedelta(days=3650))

    # The mirror's own timestamp no longer verifies under root v2: it is not needed.
    report = _sync(signed, server.url, mirror, root=False)
    assert report.roots == [2] and report.switched and report.roots_not_copied == []
    assert report.pages == []  # the pages did not change
    _assert_valid_mirror(signed, mirror)
    _client_installs(http(mirror).url, signed, tmp_path / "client")


def test_sync_and_gc_share_one_lock(upstream, tmp_path) -> None:
    signed, server = upstream
    mirror, state = tmp_path / "mirror", tmp_path / "mirror-state"
    _sync(signed, server.url, mirror)
    with (
        publisher_lock(state / "publish.lock"),  # what gc --state-dir takes
        pytest.raises(SetupError, match="another sync or gc holds"),
    ):
        sync_mirror(server.url, mirror, options=SyncOptions(state_dir=state), wait_for_lock=False)
    with sync_lock(state), pytest.raises(LockBusyError):
        collect_garbage(
            RepositoryStorage(mirror), state / "publish.lock", signed.clock(), wait_for_lock=False
        )
