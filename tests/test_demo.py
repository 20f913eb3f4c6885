"""The embedded default runs end to end and catches its tampered page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuf_pypi.demo import run_demo


def test_demo_runs_and_refuses_the_tampered_page(tmp_path: Path, capsys) -> None:
    assert run_demo(tmp_path / "demo", tmp_path / "keys") == 0
    out = capsys.readouterr().out
    assert "demo online passphrase" in out and "demo offline passphrase" in out
    assert "independent audit (tuf-pypi verify): OK" in out
    assert "REFUSED, as it should be: LengthOrHashMismatchError" in out
    # pip installed through the proxy, with the dependencies, skipping the yanked release...
    assert "pip: Successfully installed Demo_Core-1.0 demo-app-1.1 demo-lib-1.0" in out
    assert (tmp_path / "demo" / "site" / "demo_core" / "__init__.py").is_file()
    # ...then refused the swapped wheel, and pip said why.
    assert "ERROR: 424 Client Error: TUF verification failed" in out
    assert "demo_core-1.0-py3-none-any.whl" in out and "[tampered]" in out
    assert not (tmp_path / "demo" / "site-2" / "demo_core").exists()
    # A second run replaces its own throwaway keys...
    assert run_demo(tmp_path / "demo", tmp_path / "keys") == 0


def test_demo_never_deletes_keys_it_did_not_create(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "root-1.key").write_text("a real key")
    with pytest.raises(SystemExit, match="not demo keys"):
        run_demo(tmp_path / "demo", keys)
    assert (keys / "root-1.key").read_text() == "a real key"
