"""Load every bin before the first request, when there are few: cold starts that do not wait.

A cold proxy answers a project's first page only after loading the bin that lists it
(TAP 15: one ``bin-XXXX`` per slice of the target paths), and ngclient loads metadata
one role at a time: uv's first burst of page requests (one per dependency, all at once)
then waits in line for a bin each. Right after its refresh, the proxy can load the
bins instead, in the background, while the installer is still starting.

Only for indexes with at most :data:`MAX_BINS` bins (a company index, a mirror of a
few thousand projects); on PyPI's scale, lazy loading is the right trade. Bins already
in the cache at the snapshot's version are read from disk, not downloaded, so a warm
cache costs little. Loading is ordinary lookups (verified as always; failures recorded
by the mirror health like any other), of probe paths chosen to hash into each bin.
"""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

from .. import layout
from .client import Client
from .errors import ClientError

__all__ = ["MAX_BINS", "preload_bins", "probe_paths"]

MAX_BINS = 256


def probe_paths(number_of_bins: int) -> list[str]:
    """One page target path per bin, never a real project's (a leading ``.`` is not in
    any normalized name)."""
    found: dict[int, str] = {}
    for n in count():
        path = f"{layout.SIMPLE_DIR}/.tuf-pypi-probe-{n}/index.html"
        found.setdefault(layout.bin_index(path, number_of_bins), path)
        if len(found) == number_of_bins:
            return [found[i] for i in range(number_of_bins)]
    raise AssertionError("unreachable")


def number_of_bins(metadata_dir: Path) -> int | None:
    """Bins listed by the trusted snapshot in ``metadata_dir`` (None if unreadable)."""
    try:
        meta = json.loads((metadata_dir / "snapshot.json").read_bytes())["signed"]["meta"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    bins = sum(1 for name in meta if layout.is_bin_role(name.removesuffix(".json")))
    return bins or None


def preload_bins(client: Client, max_bins: int = MAX_BINS) -> int:
    """Load every bin of ``client``'s view if there are at most ``max_bins``; how many."""
    client.refresh()
    bins = number_of_bins(client.cache.metadata_dir)
    if bins is None or bins > max_bins:
        return 0
    try:
        client.preload(probe_paths(bins))
    except ClientError:
        return 0  # recorded by the mirror health; requests will retry
    return bins
