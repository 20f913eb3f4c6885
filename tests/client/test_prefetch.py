"""Preloading the bins of a small index: every bin loaded once, verified as usual, and
page lookups afterwards download no metadata."""

from __future__ import annotations

from tuf_pypi import layout
from tuf_pypi.client.prefetch import number_of_bins, preload_bins, probe_paths
from tuf_pypi.testing.mirror_server import Serve
from tuf_pypi.testing.signed_index import Index

from .checks import MakeClient


def test_probe_paths_cover_every_bin_and_no_project() -> None:
    paths = probe_paths(64)
    assert [layout.bin_index(path, 64) for path in paths] == list(range(64))
    for path in paths:
        project = path.split("/")[1]
        assert project.startswith(".") and not layout.is_normalized(project)


def test_preload_loads_each_bin_once(index: Index, serve: Serve, make_client: MakeClient) -> None:
    mirror = serve(index)
    client = make_client(mirror)
    loaded = preload_bins(client)
    bins = number_of_bins(client.cache.metadata_dir)
    assert loaded == bins and bins is not None and bins > 1
    bin_requests = [p for p in mirror.requests if ".bin-" in p]
    assert len(bin_requests) == len(set(bin_requests)) == bins
    before = len(mirror.requests)
    client.page("demo-core")
    assert all(not p.startswith("tuf/") for p in mirror.requests[before:])  # just the page
    assert preload_bins(make_client(mirror), max_bins=bins - 1) == 0  # too many: lazy
