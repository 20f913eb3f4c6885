"""Size a repository: what each bin count costs the snapshot, a bin and a client.

Sizes are not guessed: for each candidate bin count the planner builds a real
snapshot and a real bin of the average size (random digests, PyPI-like path
lengths, an Ed25519 signature's worth of bytes) with the same serializer publish
uses, and measures them raw and gzip-compressed (what a CDN sends).

Client cost, one page of one project:

- cold: timestamp + snapshot + targets + bins + one bin (root comes with the
  installer; asking for the next root is one small 404);
- warm, after new uploads elsewhere: timestamp + snapshot (it changes on every
  publish) + the client's bin only if an upload hashed into it (probability
  ``1 - (1 - 1/bins)^uploads``).
"""

from __future__ import annotations

import gzip
import random
from dataclasses import asdict, dataclass

from .. import layout
from ..errors import SettingError
from . import canonical

__all__ = ["BinPlan", "Plan", "plan"]

_SIG = '{"keyid":"' + "a" * 64 + '","sig":"' + "b" * 128 + '"}'
_TIMESTAMP_BYTES = 460
_TARGETS_BYTES = 900
_BINS_BYTES = 820
_EXPIRES = "2030-01-01T00:00:00Z"


@dataclass(frozen=True)
class BinPlan:
    bins: int
    targets_per_bin: float
    snapshot_bytes: int
    snapshot_gzip: int
    bin_bytes: int
    bin_gzip: int
    cold_bytes: int
    cold_gzip: int
    warm_bytes: int
    warm_gzip: int


@dataclass(frozen=True)
class Plan:
    projects: int
    files: int | None
    targets: int
    uploads_between_refreshes: int
    candidates: list[BinPlan]
    recommended: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "candidates": [asdict(c) for c in self.candidates]}


def _file(signed: bytes) -> bytes:
    return b'{"signatures":[' + _SIG.encode() + b'],"signed":' + signed + b"}"


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def _bin_size(targets: int, rng: random.Random) -> tuple[int, int]:
    entries = {}
    for i in range(targets):
        name = f"{rng.choice(['py', 'django', 'data', 'aws'])}-tools-{rng.getrandbits(24):x}-{i}"
        form = layout.PAGE_FORMS[i % 2]
        entries[f"simple/{name}/{form}"] = {
            "hashes": {"sha256": f"{rng.getrandbits(256):064x}"},
            "length": rng.randrange(500, 200_000),
        }
    data = _file(canonical.bin_signed(rng.randrange(1, 500), _EXPIRES, entries))
    return len(data), _gz(data)


def _snapshot_size(bins: int, rng: random.Random) -> tuple[int, int]:
    meta = {
        layout.metadata_filename(layout.bin_name(i, bins)): rng.randrange(1, 5000)
        for i in range(bins)
    }
    meta |= {"targets.json": 3, "bins.json": 2}
    data = _file(canonical.snapshot_signed(rng.randrange(1, 10**6), _EXPIRES, meta))
    return len(data), _gz(data)


def plan(
    projects: int,
    files: int | None = None,
    *,
    forms: int = 2,
    uploads_between_refreshes: int = 100,
    candidates: list[int] | None = None,
) -> Plan:
    """Costs of candidate bin counts for ``projects`` projects, and a recommendation."""
    if projects < 1:
        raise SettingError(f"projects must be at least 1, not {projects}")
    targets = projects * forms
    if candidates is None:
        middle = layout.bins_for_projects(projects)
        candidates = sorted({max(2, middle >> s) for s in range(4, 0, -1)} | {middle} | {
            min(1 << 20, middle << s) for s in range(1, 4)
        } | ({16384} if projects > 100_000 else set()))  # fmt: skip
    rng = random.Random(458)
    rows = []
    for bins in candidates:
        layout.suffix_len(bins)
        per_bin = targets / bins
        bin_raw, bin_gz = _bin_size(max(0, round(per_bin)), rng)
        snap_raw, snap_gz = _snapshot_size(bins, rng)
        fixed = _TIMESTAMP_BYTES + _TARGETS_BYTES + _BINS_BYTES
        p_changed = 1 - (1 - 1 / bins) ** uploads_between_refreshes
        rows.append(
            BinPlan(
                bins=bins,
                targets_per_bin=round(per_bin, 1),
                snapshot_bytes=snap_raw,
                snapshot_gzip=snap_gz,
                bin_bytes=bin_raw,
                bin_gzip=bin_gz,
                cold_bytes=fixed + snap_raw + bin_raw,
                cold_gzip=round(fixed * 0.7) + snap_gz + bin_gz,
                warm_bytes=round(_TIMESTAMP_BYTES + snap_raw + p_changed * bin_raw),
                warm_gzip=round(_TIMESTAMP_BYTES * 0.8 + snap_gz + p_changed * bin_gz),
            )
        )
    # Compressed bytes are what clients pay behind any CDN. Take the cheapest cold
    # client; among counts within 10% of it, prefer more bins (smaller bins mean
    # less re-signing per upload and less to re-download when one changes).
    best = min(r.cold_gzip + r.warm_gzip for r in rows)
    near = [r for r in rows if r.cold_gzip + r.warm_gzip <= best * 1.10]
    chosen = max(near, key=lambda r: r.bins)
    reason = (
        f"{chosen.bins} bins: a cold client verifying one page downloads "
        f"{chosen.cold_gzip / 1000:.0f} KB compressed ({chosen.cold_bytes / 1000:.0f} KB raw), "
        f"a warm one {chosen.warm_gzip / 1000:.0f} KB; within 10% of the cheapest count, "
        f"the most bins (about {chosen.targets_per_bin:.0f} pages per bin, so one upload "
        f"re-signs and re-sends a {chosen.bin_bytes / 1000:.0f} KB bin)"
    )
    return Plan(projects, files, targets, uploads_between_refreshes, rows, chosen.bins, reason)
