"""The tuf-conformance client protocol, run against our own repository over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from tuf_pypi.client.conformance import main
from tuf_pypi.testing.mirror_server import MirrorServer, Serve, replace
from tuf_pypi.testing.signed_index import Index

TARGETS = ["simple/demo-core/index.html", "simple/demo-lib/index.v1_json"]


def _download(server: MirrorServer, metadata: Path, target_dir: Path, names: list[str]) -> int:
    args = ["--metadata-dir", str(metadata), "--metadata-url", server.url + "tuf/"]
    for name in names:
        args += ["--target-name", name]
    args += ["--target-base-url", server.url, "--target-dir", str(target_dir), "download"]
    return main(args)


def test_init_refresh_download(index: Index, serve: Serve, tmp_path: Path) -> None:
    server = serve(index)
    metadata, targets = tmp_path / "metadata", tmp_path / "targets"
    assert main(["--metadata-dir", str(metadata), "init", str(index.repo / "tuf/1.root.json")]) == 0
    assert server.requests == []  # init makes no request
    refresh = ["--metadata-dir", str(metadata), "--metadata-url", server.url + "tuf", "refresh"]
    assert main(refresh) == 0
    for role in ("root", "timestamp", "snapshot", "targets"):
        assert (metadata / f"{role}.json").is_file()

    assert _download(server, metadata, targets, TARGETS) == 0
    for name in TARGETS:
        assert (targets / quote(name, safe="")).read_bytes() == index.read(name)
    # Already downloaded, with matching hashes: not downloaded again.
    assert _download(server, metadata, targets, TARGETS) == 0
    assert server.count(index.page_path("demo-core", "index.html")) == 1


def test_download_stops_at_the_first_failure(index: Index, serve: Serve, tmp_path: Path) -> None:
    server = serve(index)
    metadata, targets = tmp_path / "metadata", tmp_path / "targets"
    main(["--metadata-dir", str(metadata), "init", str(index.repo / "tuf/1.root.json")])
    first = index.page_path("demo-core", "index.html")
    server.hooks[first] = replace(index.read("simple/demo-core/index.html") + b" ")
    assert _download(server, metadata, targets, TARGETS) == 1
    assert server.count(index.page_path("demo-lib")) == 0
    assert not list(targets.iterdir())
    assert _download(server, metadata, targets, ["simple/nothing/index.html"]) == 1


def test_usage_errors_exit_1(tmp_path: Path) -> None:
    assert main(["--metadata-dir", str(tmp_path), "refresh"]) == 1
    assert main(["--metadata-dir", str(tmp_path), "download"]) == 1
    assert main(["--metadata-dir", str(tmp_path), "init", str(tmp_path / "none.json")]) == 1


def test_runs_as_a_module(index: Index, serve: Serve, tmp_path: Path) -> None:
    server = serve(index)
    metadata = tmp_path / "metadata"
    module = [sys.executable, "-m", "tuf_pypi.client.conformance", "--metadata-dir", str(metadata)]
    init = subprocess.run([*module, "init", str(index.repo / "tuf/1.root.json")], check=False)
    assert init.returncode == 0
    refresh = subprocess.run(
        [*module, "--metadata-url", server.url + "tuf/", "refresh"],
        capture_output=True,
        check=False,
    )
    assert refresh.returncode == 0, refresh.stderr.decode()
    server.hooks["tuf/timestamp.json"] = replace(b"{}")
    failed = subprocess.run(
        [*module, "--metadata-url", server.url + "tuf/", "refresh"],
        capture_output=True,
        check=False,
    )
    assert failed.returncode == 1
    assert b"error: refreshing TUF metadata" in failed.stderr
