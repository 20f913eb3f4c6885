"""tuf-pypi publisher and tuf-pypi queue: what an operator runs and sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.queue import open_queue
from tuf_pypi.repository import verify_repository
from tuf_pypi.testing.passphrases import PASSPHRASE

from .pages import render_pages, sha256, signed_sha256

ENV = {"TUF_PYPI_PASSPHRASE": PASSPHRASE}


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=ENV if env is None else env)


@pytest.mark.parametrize(
    "command",
    [["publisher"], ["queue"], ["queue", "init"], ["queue", "enqueue"], ["queue", "status"]],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def _pages(tmp_path: Path, project: str, number: int) -> tuple[Path, Path]:
    html, json_page = render_pages(project, number)
    (tmp_path / "page.html").write_bytes(html)
    (tmp_path / "page.json").write_bytes(json_page)
    return tmp_path / "page.html", tmp_path / "page.json"


def test_enqueue_then_publish_once(make_repo, sqlite_url, tmp_path) -> None:
    signed = make_repo()
    html, _ = _pages(tmp_path, "demo-lib", 1)
    result = run("queue", "enqueue", "--db", sqlite_url, "Demo_Lib", "--html", str(html))
    assert result.exit_code == 0 and "queued entry 1: demo-lib" in result.output
    assert run("queue", "enqueue", "--db", sqlite_url, "demo-app", "--delete").exit_code == 0
    status = run("queue", "status", "--db", sqlite_url, "--json")
    assert status.exit_code == 0 and json.loads(status.output)["depth"] == 2

    db = ["--db", sqlite_url]
    result = run(
        "publisher", "--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir), *db, "--once"
    )
    assert result.exit_code == 0, result.output
    assert "published 2 updates in 1 batches" in result.output
    assert signed_sha256(signed.repo, "demo-lib") == sha256(html.read_bytes())
    assert signed_sha256(signed.repo, "demo-app") is None
    assert verify_repository(signed.storage, signed.clock()).ok

    status = run("queue", "status", "--db", sqlite_url)
    assert status.exit_code == 0
    assert "pending: 0 updates" in status.output and "timestamp v3" in status.output
    assert "active publisher: none" in status.output


def test_bad_input_is_one_line_and_queues_nothing(sqlite_url, tmp_path) -> None:
    html, json_page = _pages(tmp_path, "demo-lib", 1)
    result = run("queue", "enqueue", "--db", sqlite_url, "other", "--json", str(json_page))
    assert result.exit_code == 1
    assert result.output == (
        "error: simple/other/index.v1_json: the page is for project 'demo-lib', not other\n"
    )
    result = run("queue", "enqueue", "--db", sqlite_url, "demo-lib", "--html", str(json_page))
    assert result.exit_code == 1 and "wrong content for the form" in result.output
    result = run("queue", "enqueue", "--db", sqlite_url, "x", "--delete", "--html", str(html))
    assert result.exit_code == 2 and "not both" in result.output
    result = run("queue", "status", "--db", "mysql://host/db")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    with open_queue(sqlite_url) as db:
        db.ensure_schema()
        assert db.pending().depth == 0


def test_status_exit_3_when_updates_wait_too_long(sqlite_url, tmp_path) -> None:
    html, _ = _pages(tmp_path, "demo-lib", 1)
    run("queue", "enqueue", "--db", sqlite_url, "demo-lib", "--html", str(html))
    result = run("queue", "status", "--db", sqlite_url, "--stuck-after", "0s")
    assert result.exit_code == 3 and "stuck" in result.output


def test_publisher_once_exits_3_while_another_is_active(make_repo, sqlite_url) -> None:
    signed = make_repo()
    args = ["--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir), "--db", sqlite_url]
    with open_queue(sqlite_url) as other:
        other.ensure_schema()
        other.try_lead()
        result = run("publisher", *args, "--once")
    assert result.exit_code == 3 and "another publisher is active" in result.output


def test_publisher_checks_its_setup_before_starting(make_repo, tmp_path) -> None:
    signed = make_repo()
    repo_args = ["--repo", str(signed.repo), "--keys-dir", str(signed.keys_dir)]
    inside = f"sqlite:///{signed.repo / 'queue.db'}"
    result = run("publisher", *repo_args, "--db", inside, "--once")
    assert result.exit_code == 1 and "inside --repo" in result.output
    outside = f"sqlite:///{tmp_path / 'queue.db'}"
    result = run("publisher", *repo_args, "--db", outside, env={"TUF_PYPI_PASSPHRASE": "wrong"})
    assert result.exit_code == 1 and "wrong passphrase" in result.output
    assert result.output.count("\n") == 1
