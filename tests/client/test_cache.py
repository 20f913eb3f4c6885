"""The cache: one refresh per client, shared safely by processes, and self-healing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata

from tuf_pypi.client import AllMirrorsFailedError, SetupError, TamperedError
from tuf_pypi.testing.mirror_server import Serve, delayed, replace
from tuf_pypi.testing.signed_index import Index

from .checks import PROJECT, MakeClient, page_bytes, refused


def test_metadata_is_refreshed_once_per_client(
    index: Index, newer: Index, serve: Serve, make_client: MakeClient
) -> None:
    mirror = serve(index)
    client = make_client(mirror)
    first = client.page(PROJECT).data
    client.page("demo-lib")
    # The repository moves on, but this client keeps its one consistent view.
    mirror.root = newer.repo
    assert client.page(PROJECT).data == first
    assert mirror.count("tuf/timestamp.json") == 1


def test_a_failed_refresh_is_not_retried_by_the_same_client(
    index: Index, serve: Serve, make_client: MakeClient
) -> None:
    mirror = serve(index)
    mirror.hooks["tuf/timestamp.json"] = replace(b"garbage")
    client = make_client(mirror)
    for _ in range(2):
        with pytest.raises(AllMirrorsFailedError) as excinfo:
            client.page(PROJECT)
        refused(excinfo, TamperedError)
    assert mirror.count("tuf/timestamp.json") == 1


def test_verified_pages_and_files_are_reused(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    mirror = serve(index)
    cache, dest = tmp_path / "cache", tmp_path / "dl"
    for _ in range(2):
        client = make_client(mirror, cache=cache)
        page = client.page(PROJECT)
        client.download(page, page.page.files[0], dest)
    rel, _ = index.wheel(PROJECT)
    assert mirror.count(index.page_path(PROJECT)) == 1
    assert mirror.count(rel) == 1


def test_a_tampered_cache_is_not_trusted(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    mirror = serve(index)
    cache, dest = tmp_path / "cache", tmp_path / "dl"
    client = make_client(mirror, cache=cache)
    page = client.page(PROJECT)
    wheel = client.download(page, page.page.files[0], dest)
    for path in [*(cache / "pages").iterdir(), wheel]:
        path.write_bytes(path.read_bytes().replace(b"demo", b"DEMO"))

    client = make_client(mirror, cache=cache)
    page = client.page(PROJECT)
    assert page.data == index.page_bytes(PROJECT)
    assert client.download(page, page.page.files[0], dest).read_bytes() == index.wheel(PROJECT)[1]


def test_a_corrupt_or_half_written_cache_recovers(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    mirror = serve(index)
    cache = tmp_path / "cache"
    make_client(mirror, cache=cache).page(PROJECT)
    metadata = cache / "metadata"
    for name in ("timestamp.json", "snapshot.json", "targets.json", "bins.json"):
        data = (metadata / name).read_bytes()
        (metadata / name).write_bytes(data[: len(data) // 2])  # a torn write
    for path in metadata.glob("bin-*.json"):
        path.write_bytes(b"")
    (metadata / "root.json").unlink()
    (metadata / "root.json").write_bytes(b"not json")  # a file where the link was
    (metadata / "root_history" / "1.root.json").write_bytes(b"{}")
    (metadata / "tmpabc123").write_bytes(b"left by a crash")

    assert page_bytes(make_client(mirror, cache=cache)) == index.page_bytes(PROJECT)
    timestamp = Metadata.from_file(str(metadata / "timestamp.json"))
    assert timestamp.signed.version == index.metadata("tuf/timestamp.json").signed.version
    assert Metadata.from_file(str(metadata / "root.json")).signed.version == 1


_RUN = """
import sys
from tuf_pypi.client import Client
mirror, root, cache, dest = sys.argv[1:]
with Client([mirror], open(root, "rb").read(), cache) as client:
    for project in ("demo-core", "demo-lib", "demo-app", "demo-extra"):
        page = client.page(project)
        for link in page.page.files:
            client.download(page, link, dest)
"""


def test_processes_share_one_cache(
    index: Index, newer: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    mirror = serve(index)
    cache = tmp_path / "cache"
    make_client(mirror, cache=cache).refresh()
    # The repository publishes again; every process refreshes into the shared cache at
    # once, each held up in the middle of its refresh so that they overlap.
    mirror.root = newer.repo
    mirror.hooks["tuf/timestamp.json"] = delayed(0.2)
    root = tmp_path / "root.json"
    root.write_bytes(index.root_bytes)
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _RUN,
                mirror.url,
                str(root),
                str(cache),
                str(tmp_path / f"d{i}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr.decode()
    assert mirror.count("tuf/timestamp.json") == 4
    timestamp = Metadata.from_file(str(cache / "metadata" / "timestamp.json"))
    assert timestamp.signed.version == newer.metadata("tuf/timestamp.json").signed.version
    assert page_bytes(make_client(mirror, cache=cache)) == newer.page_bytes(PROJECT)


# -- a cache another local user could write --------------------------------------------


def _another_users(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another user needs root")
    os.chown(path, 65534, 65534)  # nobody


@pytest.mark.parametrize(
    ("prepare", "problem"),
    [
        pytest.param(lambda d: d.chmod(0o777), "writable by others (mode 0777)", id="0777"),
        pytest.param(lambda d: d.chmod(0o770), "writable by others (mode 0770)", id="group"),
        pytest.param(_another_users, "is owned by uid 65534", id="other-owner"),
    ],
)
@pytest.mark.parametrize("where", ["root", "metadata", "pages"])
def test_a_cache_others_can_write_is_refused(
    index: Index,
    serve: Serve,
    make_client: MakeClient,
    tmp_path: Path,
    prepare: Callable[[Path], None],
    problem: str,
    where: str,
) -> None:
    # Another local user prepared the cache (or can write in it): it would let them
    # replace trusted metadata or verified files under the client.
    cache = tmp_path / "cache"
    make_client(serve(index), cache=cache).refresh()
    directory = cache if where == "root" else cache / where
    prepare(directory)
    with pytest.raises(SetupError) as excinfo:
        make_client(serve(index), cache=cache)
    assert str(directory) in str(excinfo.value) and problem in str(excinfo.value)


def test_a_cache_linked_to_another_users_directory_is_refused(
    index: Index, serve: Serve, make_client: MakeClient, tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    _another_users(theirs)
    (tmp_path / "cache").symlink_to(theirs)
    with pytest.raises(SetupError, match="is owned by uid 65534"):
        make_client(serve(index), cache=tmp_path / "cache")
    # A link to a private directory of one's own is fine.
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    (tmp_path / "cache2").symlink_to(mine)
    assert make_client(serve(index), cache=tmp_path / "cache2").page(PROJECT).data
