"""The embedded default runs end to end and catches its tampered page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuf_pypi.demo import run_demo


def test_demo_runs_and_refuses_the_tampered_page(tmp_path: Path, capsys) -> None:
    assert run_demo(tmp_path / "demo", tmp_path / "keys") == 0
    out = capsys.readouterr().out
    assert "independent audit (tuf-pypi verify): OK" in out
    assert "REFUSED, as it should be: LengthOrHashMismatchError" in out
    # A second run replaces its own throwaway keys...
    assert run_demo(tmp_path / "demo", tmp_path / "keys") == 0


def test_demo_never_deletes_keys_it_did_not_create(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "root-1.key").write_text("a real key")
    with pytest.raises(SystemExit, match="not demo keys"):
        run_demo(tmp_path / "demo", keys)
    assert (keys / "root-1.key").read_text() == "a real key"
