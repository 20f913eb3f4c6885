"""``tuf-pypi download``: every file of a release, verified, or exit 1 with one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.version import Version

from tuf_pypi.cli import main
from tuf_pypi.commands.client import release_of
from tuf_pypi.testing.mirror_server import MirrorServer, Serve, replace
from tuf_pypi.testing.signed_index import Index


@pytest.fixture
def run(index: Index, tmp_path: Path):
    root = tmp_path / "root.json"
    root.write_bytes(index.root_bytes)

    def invoke(*mirrors: MirrorServer | str, args: list[str]):
        options = []
        for mirror in mirrors:
            options += ["--mirror", mirror if isinstance(mirror, str) else mirror.url]
        options += ["--root", str(root), "--cache", str(tmp_path / "cache")]
        options += ["-d", str(tmp_path / "dl"), "--timeout", "2"]
        return CliRunner().invoke(main, ["download", *options, *args])

    return invoke


@pytest.mark.parametrize("requirement", ["Demo_Core==1.0", "demo.core==1.0.0", "demo-core==v1.0"])
def test_download_a_release(
    index: Index, serve: Serve, run, tmp_path: Path, requirement: str
) -> None:
    """Name and version match as pip matches them (PEP 503 names, PEP 440 versions)."""
    result = run(serve(index), args=[requirement])
    assert result.exit_code == 0, result.output
    wheel = tmp_path / "dl" / "demo_core-1.0-py3-none-any.whl"
    assert result.stdout == f"verified {wheel}\n"  # warnings may go to stderr
    assert wheel.read_bytes() == index.wheel("demo-core")[1]


def test_download_one_file_as_json(index: Index, serve: Serve, run, tmp_path: Path) -> None:
    filename = "demo_lib-2.0-py3-none-any.whl"
    result = run(serve(index), args=["demo-lib", "--filename", filename, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["failed"] == []
    assert [d["filename"] for d in report["downloaded"]] == [filename]


def test_refusals_hidden_by_failover_are_reported(
    index: Index, serve: Serve, run, tmp_path: Path
) -> None:
    """A tampered file on the first mirror, the right one on the second: the download
    succeeds, and the refused answer is still listed (--json) or warned about."""
    rel, data = index.wheel("demo-core")
    bad, honest = serve(index), serve(index)
    bad.hooks[rel] = replace(bytes(len(data)))
    result = run(bad, honest, args=["demo-core==1.0", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["failed"] == []
    [refusal] = report["refused"]
    assert refusal["mirror"] == bad.url and refusal["kind"] == "tampered" and refusal["attack"]
    assert refusal["what"] == "downloading demo_core-1.0-py3-none-any.whl"
    assert "does not match" in refusal["reason"]
    text = run(bad, honest, args=["demo-core==1.0", "-d", str(tmp_path / "again")])
    assert text.exit_code == 0
    assert f"warning: refused mirror {bad.url}: downloading demo_core" in text.stderr
    assert "(attack class: tampered)" in text.stderr


def test_failures_exit_1_with_one_line_each(index: Index, serve: Serve, run) -> None:
    rel, data = index.wheel("demo-core")
    bad = serve(index)
    bad.hooks[rel] = replace(bytes(len(data)))
    result = run(bad, args=["demo-core==1.0"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: downloading demo_core-1.0-py3-none-any.whl")
    assert "[tampered]" in lines[0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["demo-core==9.9"], 1, "no files of demo-core 9.9; versions on the verified page: 1.0"),
        (["no-such-project==1.0"], 1, "not listed"),
        (["demo-core"], 2, "give NAME==VERSION"),
        (["demo-core=="], 2, "is not NAME==VERSION"),
        (["demo-core==1.0-beta?"], 2, "version '1.0-beta?' is not a PEP 440 version"),
    ],
)
def test_nothing_to_download(
    index: Index, serve: Serve, run, args: list[str], code: int, message: str
) -> None:
    result = run(serve(index), args=args)
    assert result.exit_code == code
    assert message in result.output


def test_release_of_parses_wheel_and_sdist_names() -> None:
    assert release_of("Demo_Core-1.0-py3-none-any.whl") == ("demo-core", Version("1.0"))
    assert release_of("demo_lib-2.0-1-cp312-cp312-manylinux_2_17_x86_64.whl") == (
        "demo-lib",
        Version("2.0"),
    )
    assert release_of("demo-lib-2.0.tar.gz") == ("demo-lib", Version("2.0"))
    assert release_of("demo_lib-2.0.zip") == ("demo-lib", Version("2.0"))
    assert release_of("demo_lib-1.0.RC1.zip") == ("demo-lib", Version("1.0rc1"))
    assert release_of("demo.exe") is None
    assert release_of("broken.whl") is None
    assert release_of("demo-lib-not.a.version.tar.gz") is None


def test_mirrors_and_root_from_a_configuration_file(
    index: Index,
    serve: Serve,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``download`` (like ``proxy`` and ``run``) reads mirrors and the pinned root from a
    tuf-pypi.toml; options still win over it."""
    (tmp_path / "root.json").write_bytes(index.root_bytes)
    config = tmp_path / "tuf-pypi.toml"
    config.write_text(f'mirrors = ["{serve(index).url}"]\nroot = "root.json"\ntimeout = 2\n')
    args = ["download", "--config", str(config), "--cache", str(tmp_path / "cache")]
    result = CliRunner().invoke(main, [*args, "-d", str(tmp_path / "dl"), "demo-core==1.0"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dl" / "demo_core-1.0-py3-none-any.whl").exists()
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no tuf-pypi.toml here or above
    monkeypatch.chdir(elsewhere)
    runner = CliRunner(env={"HOME": str(elsewhere), "XDG_CONFIG_HOME": None})
    missing = runner.invoke(main, ["download", "--mirror", "http://x.example/", "x==1"])
    assert missing.exit_code == 1
    assert "no pinned root: give --root ROOT.json, or set root in a tuf-pypi.toml" in (
        missing.output
    )
