"""Fixtures: a real PostgreSQL server (scripts/postgres) and queue URLs.

The server is started once per session and each test gets a database of its own. If
PostgreSQL is not installed the PostgreSQL tests skip, except in CI (CI=true), where
they fail: CI must exercise the real server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .pages import ROOT

POSTGRES_SCRIPT = ROOT / "scripts" / "postgres"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the session's PostgreSQL server (maintenance database ``postgres``)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[test]')")
    directory = tempfile.mkdtemp(prefix="tuf-pg-", dir="/tmp")
    started = subprocess.run(
        ["bash", str(POSTGRES_SCRIPT), "start", directory],
        capture_output=True,
        text=True,
        env={**os.environ, "PG_STOP_WHEN_GONE": str(os.getpid())},  # even if pytest is killed
    )
    if started.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable(f"cannot start PostgreSQL: {started.stderr.strip()}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(POSTGRES_SCRIPT), "stop", directory], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the session's server."""
    import psycopg

    name = f"queue_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"{postgres_server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs against both backends."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
