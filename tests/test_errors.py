"""How tuf-pypi fails: its own errors as one line, anything else (a bug) with a traceback.

Each error class tuf-pypi defines sits under one base per side (``RepoError``,
``ClientError``) or the shared ``InputError``, all ``TufPypiError``: the CLI shows
exactly those as ``error: ...`` and exit code 1.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import tuf_pypi
from tuf_pypi.client.errors import ClientError
from tuf_pypi.errors import InputError, RepoError, TufPypiError

#: Raised and caught inside tuf-pypi, never seen by a caller: signals within one
#: module, and ``localfs``'s, which the publisher and the mirror tools each turn
#: into an error of their own side.
_INTERNAL = {
    "tuf_pypi.pages.model._Reject",
    "tuf_pypi.proxy.ranges.RangeNotSatisfiableError",
    "tuf_pypi.proxy.request.BadRequest",
    "tuf_pypi.client.transport._Malformed",
    "tuf_pypi.client.transport._Stale",
    "tuf_pypi.localfs.FileExistsWithOtherBytes",
    "tuf_pypi.localfs.LockBusy",
    "tuf_pypi.localfs.ReplacedByOther",
}


def _error_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in pkgutil.walk_packages(tuf_pypi.__path__, "tuf_pypi."):
        if module.name.endswith("__main__") or ".testing" in module.name:
            continue
        for name, value in inspect.getmembers(importlib.import_module(module.name)):
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.name
            ):
                found[f"{module.name}.{name}"] = value
    return found


def test_every_error_class_has_one_of_the_bases() -> None:
    classes = _error_classes()
    assert len(classes) > 20  # the walk found the package's errors
    bases = (RepoError, ClientError, InputError)
    stray = [
        name
        for name, cls in classes.items()
        if name not in _INTERNAL and cls is not TufPypiError and not issubclass(cls, bases)
    ]
    assert not stray, f"error classes outside RepoError/ClientError/InputError: {stray}"
    assert not issubclass(RepoError, ClientError) and not issubclass(ClientError, RepoError)


def _cli(tmp_path: Path, patch: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a new interpreter, after ``patch`` (Python) ran in it."""
    code = f"import sys\n{patch}\nfrom tuf_pypi.cli import main\nmain(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_a_bug_shows_its_traceback(tmp_path: Path) -> None:
    """A ValueError from a bug is not dressed up as the user's mistake."""
    patch = (
        "import tuf_pypi.commands.repository as r\n"
        "def broken(*a, **k):\n"
        "    raise ValueError('an internal invariant broke')\n"
        "r.load_view = broken"
    )
    result = _cli(tmp_path, patch, "status", "--repo", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: an internal invariant broke" in result.stderr


def test_an_error_of_tuf_pypi_is_one_line(tmp_path: Path) -> None:
    """The user's setup or data: one line naming it, exit code 1, no traceback."""
    result = _cli(tmp_path, "", "status", "--repo", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "has no simple/ directory" in result.stderr
    bad = _cli(tmp_path, "", "status", "--repo", "s3://Not_A_Bucket/x")
    assert bad.returncode == 2, bad.stderr  # a usage error: --repo cannot be used
    assert "is not a valid S3 bucket name" in bad.stderr
    assert "Traceback" not in bad.stderr
