"""Pages for the queue tests: the load test's renderer, and what a repository signs.

The renderer is scripts/bench/queue_load.py's, loaded from there so that the tests
and the load test upload the same unique, valid pages.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from tuf_pypi.repository import RepositoryStorage, load_view

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location(
        "queue_load", ROOT / "scripts" / "bench" / "queue_load.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


queue_load = _load_bench()
#: The page renderer of the load test: unique, valid pages per (project, number).
render_pages = queue_load.render_pages


def signed_sha256(repo: Path, project: str, form: str = "index.html") -> str | None:
    """The sha256 the repository's metadata signs for a page, or None if not a target."""
    view = load_view(RepositoryStorage(repo))
    path = f"simple/{project}/{form}"
    target = view.bin(view.bin_of(path)).signed.targets.get(path)
    return None if target is None else target.hashes["sha256"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
