"""``tuf-pypi plan``: sizes grow the right way and the recommendation is sane."""

from __future__ import annotations

import itertools
import json

from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.repository.planner import plan


def test_sizes_move_in_opposite_directions() -> None:
    result = plan(740_000, 12_000_000)
    rows = result.candidates
    assert [r.bins for r in rows] == sorted(r.bins for r in rows)
    assert 16384 in [r.bins for r in rows]
    for small, big in itertools.pairwise(rows):
        assert big.snapshot_bytes > small.snapshot_bytes
        assert big.bin_bytes < small.bin_bytes
        assert small.snapshot_gzip < small.snapshot_bytes and small.bin_gzip < small.bin_bytes
    chosen = next(r for r in rows if r.bins == result.recommended)
    assert chosen.cold_gzip <= min(r.cold_gzip for r in rows) * 1.25
    assert 1024 <= result.recommended <= 16384
    assert str(result.recommended) in result.reason


def test_small_index_gets_few_bins() -> None:
    assert plan(500).recommended <= 256


def test_cli_json_and_text() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["plan", "--projects", "20000", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["targets"] == 40000
    assert data["recommended"] in [c["bins"] for c in data["candidates"]]
    out = runner.invoke(main, ["plan", "--projects", "20000"])
    assert out.exit_code == 0 and "recommended:" in out.output
    assert runner.invoke(main, ["plan", "--projects", "0"]).exit_code == 2
