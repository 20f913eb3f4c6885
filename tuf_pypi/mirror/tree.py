"""A mirror directory on disk: atomic writes, what it serves now, and the sync lock.

The mirror is laid out exactly like the index it copies (DESIGN §2), so any static
server can serve it and ``tuf-pypi verify`` / ``tuf-pypi gc`` work on it. Every write
goes to a temporary dotfile in the same directory and is renamed into place, so a
web server never serves a half-written file (``tuf_pypi.localfs``, shared with the
repository side).

Sync state that is not the mirror's own metadata (the lock, what the last sync
covered) lives in a state directory outside the served tree.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tuf.api.metadata import Metadata

from .. import layout
from ..client.errors import SetupError
from ..localfs import LockBusy, exclusive_lock, fsync_dir, write_atomic
from .plan import Coverage, check_metadata_filename

__all__ = [
    "LOCK_NAME",
    "PACKAGES_DIR",
    "LocalState",
    "MirrorTree",
    "StateFile",
    "sync_lock",
]

#: The publisher's lock file (``layout.LOCK_FILE``), so ``tuf-pypi gc --state-dir``
#: and a sync using the same state directory never run at once.
LOCK_NAME = layout.LOCK_FILE
_ROOT_FILE = re.compile(r"^([1-9][0-9]*)\.root\.json$")
_VERSIONED = re.compile(r"^[1-9][0-9]*\..+\.json$")
_GZIP_LEVEL = 9
PACKAGES_DIR = "packages"


@dataclass
class LocalState:
    """What the mirror serves now, read (not trusted) from its own ``tuf/``."""

    timestamp: bytes | None = None
    #: The version ``timestamp.json`` claims (not verified: for reports and state).
    timestamp_version: int | None = None
    snapshot: bytes | None = None
    #: Role name -> version, from the snapshot the mirror's timestamp names.
    versions: dict[str, int] = field(default_factory=dict)


class MirrorTree:
    """Paths and atomic writes under one mirror root.

    Every path goes through :meth:`path`: it must be a plain relative path into one
    of the three trees a mirror serves (``tuf/``, ``simple/``, ``packages/``), and
    must still be inside that tree once symbolic links are resolved. The trees
    themselves may be links (``packages/`` on another disk); nothing below them may
    lead out.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.metadata_dir = self.root / layout.METADATA_DIR
        self.simple_dir = self.root / layout.SIMPLE_DIR
        self.packages_dir = self.root / PACKAGES_DIR

    def path(self, relpath: str) -> Path:
        """``root/relpath``, proven to stay inside its tree.

        A name that is not a plain relative path into ``tuf/``, ``simple/`` or
        ``packages/`` is a caller's bug (names from the network are validated before
        they get here), so it raises :class:`~tuf_pypi.layout.LayoutError`; a path
        that leaves its tree through a symbolic link on disk is a SetupError.
        """
        tree, _slash, rest = layout.check_relative_path(relpath).partition("/")
        if tree not in (layout.METADATA_DIR, layout.SIMPLE_DIR, PACKAGES_DIR) or not rest:
            raise layout.LayoutError(f"{relpath!r} is not a path under tuf/, simple/ or packages/")
        base = os.path.realpath(self.root / tree)
        resolved = os.path.realpath(os.path.join(base, rest))
        if not resolved.startswith(base + os.sep):
            raise SetupError(
                f"refusing {self.root / relpath}: it resolves to {resolved}, outside {base}"
            )
        return self.root / relpath

    # -- writing -------------------------------------------------------------------

    def write(self, relpath: str, data: bytes) -> None:
        """Write ``root/relpath`` so readers see the old file or the new one."""
        path = self.path(relpath)
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise SetupError(f"cannot write {path}: {exc}") from exc

    def write_metadata(self, filename: str, data: bytes, *, compress: bool) -> None:
        """Write a metadata file; versioned ones get a ``.gz`` sibling with ``compress``.

        Only versioned files: they never change, so their sibling can never go stale.
        ``timestamp.json`` and ``root.json`` change in place and are compressed by the
        web server on the fly.
        """
        check_metadata_filename(filename)
        if compress and _VERSIONED.match(filename):
            self.write(f"{layout.METADATA_DIR}/{filename}.gz", _gzip(data))
        self.write(f"{layout.METADATA_DIR}/{filename}", data)

    def sync_dir(self, directory: Path) -> None:
        """fsync a directory, so the renames in it survive a power cut."""
        fsync_dir(directory)

    def remove(self, relpath: str) -> bool:
        try:
            self.path(relpath).unlink()
        except FileNotFoundError:
            return False
        return True

    def write_project_listing(self) -> int:
        """Regenerate ``simple/index.html`` and ``index.v1_json`` from the projects present.

        The root listing is not signed (DESIGN §3); it is for installers that browse,
        and lists what this mirror really has. Returns the number of projects.
        """
        projects = sorted(
            entry.name
            for entry in _scandir(self.simple_dir)
            if entry.is_dir(follow_symlinks=False)
            and layout.is_normalized(entry.name)
            and any((Path(entry.path) / form).is_file() for form in layout.PAGE_FORMS)
        )
        links = "".join(f'    <a href="{p}/">{html.escape(p)}</a><br />\n' for p in projects)
        self.write(
            f"{layout.SIMPLE_DIR}/index.html",
            (
                "<!DOCTYPE html>\n<html>\n  <head>\n"
                '    <meta name="pypi:repository-version" content="1.0">\n'
                "    <title>Simple index</title>\n  </head>\n  <body>\n"
                f"{links}  </body>\n</html>\n"
            ).encode(),
        )
        listing = {"meta": {"api-version": "1.0"}, "projects": [{"name": p} for p in projects]}
        self.write(
            f"{layout.SIMPLE_DIR}/index.v1_json",
            json.dumps(listing, separators=(",", ":")).encode(),
        )
        return len(projects)

    # -- reading -------------------------------------------------------------------

    def read(self, relpath: str) -> bytes | None:
        path = self.path(relpath)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SetupError(f"cannot read {path}: {exc}") from exc

    def read_metadata(self, filename: str) -> bytes | None:
        return self.read(f"{layout.METADATA_DIR}/{filename}")

    def size(self, relpath: str) -> int | None:
        """Size of ``root/relpath``, or None when it is not a regular file."""
        try:
            st = os.stat(self.path(relpath))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def root_versions(self) -> list[int]:
        return sorted(
            int(m.group(1))
            for entry in _scandir(self.metadata_dir)
            if (m := _ROOT_FILE.match(entry.name))
        )

    def local_state(self) -> LocalState:
        """The timestamp and snapshot the mirror serves now, and the versions it names.

        Nothing here is trusted: the sync verifies these bytes like any others and
        uses the versions only to decide what it need not fetch again.
        """
        state = LocalState(timestamp=self.read_metadata(layout.metadata_filename("timestamp")))
        if state.timestamp is None:
            return state
        try:
            timestamp = Metadata.from_bytes(state.timestamp)
            state.timestamp_version = timestamp.signed.version
            version = timestamp.signed.snapshot_meta.version  # type: ignore[attr-defined]
            state.snapshot = self.read_metadata(layout.metadata_filename("snapshot", version))
            if state.snapshot is not None:
                snapshot = Metadata.from_bytes(state.snapshot)
                state.versions = {
                    layout.role_of_metadata_filename(name): meta.version
                    for name, meta in snapshot.signed.meta.items()  # type: ignore[attr-defined]
                }
        except (ValueError, KeyError, TypeError, AttributeError):
            return LocalState(timestamp=state.timestamp)  # unreadable: fetch everything
        return state

    def projects(self) -> list[str]:
        """Project directories under ``simple/`` (normalized names only)."""
        return sorted(
            entry.name
            for entry in _scandir(self.simple_dir)
            if entry.is_dir(follow_symlinks=False) and layout.is_normalized(entry.name)
        )


class StateFile:
    """``<state-dir>/mirror-sync.json``: what the last *complete* sync covered.

    It names the timestamp version that sync left the mirror at. If the mirror serves
    another one, the last run stopped after switching the timestamp and before it
    finished the live pages, so the coverage is not trusted and the next run checks
    every page again.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "mirror-sync.json"

    def load(self, upstream: str, timestamp: int | None) -> Coverage | None:
        """Coverage of the last sync from ``upstream`` that left ``timestamp``; else None."""
        try:
            data = json.loads(self.path.read_text())
            if data.get("upstream") != upstream or data.get("timestamp") != timestamp:
                return None
            return Coverage.from_dict(data["coverage"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def save(self, upstream: str, timestamp: int | None, coverage: Coverage) -> None:
        data = {"upstream": upstream, "timestamp": timestamp, "coverage": coverage.to_dict()}
        try:
            write_atomic(self.path, (json.dumps(data, indent=2) + "\n").encode())
        except OSError as exc:
            raise SetupError(f"cannot write {self.path}: {exc}") from exc


@contextlib.contextmanager
def sync_lock(
    state_dir: Path, wait: bool = True, on_wait: Callable[[Path], None] | None = None
) -> Iterator[None]:
    """Hold ``<state_dir>/publish.lock`` (flock): one writer per mirror at a time.

    ``on_wait`` is told when another sync or gc holds it and this one starts waiting.
    """
    lock_file = Path(state_dir) / LOCK_NAME
    try:
        with exclusive_lock(lock_file, wait, on_wait):
            yield
    except LockBusy:
        raise SetupError(f"another sync or gc holds {lock_file}") from None
    except OSError as exc:
        raise SetupError(f"cannot open the lock {lock_file}: {exc}") from exc


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same metadata always compresses to the same bytes.
    return gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)


def _scandir(directory: Path) -> list[os.DirEntry]:
    try:
        return list(os.scandir(directory))
    except FileNotFoundError:
        return []
