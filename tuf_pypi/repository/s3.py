"""The repository in an object store (``--repo s3://BUCKET/PREFIX``), write order kept.

The bucket is the repository; a local *work tree* mirrors what the publisher
reads, so every reader of the repository (state, scan, verify, gc, rebin) is the
same code as for a local repository:

- :meth:`S3Storage.pull` makes the work tree's ``tuf/`` exactly the bucket's
  (downloads what is missing or differs, deletes what the bucket does not have:
  a crashed publish's local leftovers), with each file's mtime the object's
  ``LastModified`` (gc's grace period). Pages come from the work tree itself (a
  local index tree given with ``--pages``) or from the bucket (pulled too).
- Every write goes to the bucket (and to the work tree). Create-only kinds are
  conditional writes (``If-None-Match: *``) checked against the bucket's listing:
  a name holding other bytes is :class:`~.storage.VersionTaken` for role files
  (the publisher moves to the next version) and a refusal for page copies. Page
  copies, pages and role files are uploaded in parallel (a bounded pool);
  :meth:`barrier` returns only once every one is confirmed (read back with its
  ETag unless told the store is strongly consistent).
- ``timestamp.json`` is written only after a barrier, swapped on its ETag (a
  conditional write: another publisher's timestamp is never replaced), and then
  the CDN purge hook runs with every key this storage changed.

A crash at any point leaves the bucket's previous timestamp, which reaches only
objects written and confirmed before it; the next run pulls, finds its leftovers
taken (or identical) and finishes (DESIGN §5.2).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import layout
from ..clock import utcnow
from ..localfs import FileExistsWithOtherBytes, ReplacedByOther, replace_file
from ..objectstore import ObjectExists, ObjectStore, RemoteObject, run_purge_hook
from .storage import _CREATE_ONLY, RepositoryStorage, StorageError, WriteKind

__all__ = ["S3Storage"]

#: Role file names (``timestamp.json``, ``7.bin-01a.json``): nothing else is pulled.
_TUF_NAME = re.compile(r"^(?:[1-9][0-9]*\.)?[a-z][a-z0-9-]*\.json$")


class S3Storage(RepositoryStorage):
    """A repository whose served tree is ``store``; ``work`` is its local work tree."""

    #: Every copy goes through :meth:`_store` (uploads start in this process).
    every_write_here = True

    def __init__(
        self,
        store: ObjectStore,
        work: Path,
        *,
        pages_in_bucket: bool = True,
        purge_command: Sequence[str] | None = None,
    ) -> None:
        super().__init__(work)
        self.store = store
        self.pages_in_bucket = pages_in_bucket
        self.purge_command = tuple(purge_command) if purge_command else None
        self._known: dict[str, RemoteObject] = {}
        self._uploads = store.uploads()
        #: Keys written since the last timestamp: what the purge hook is given.
        self.changed: list[str] = []
        self._timestamps = 0

    def __str__(self) -> str:
        return str(self.store)

    @property
    def objects_written(self) -> int:
        """Objects written (and confirmed) to the bucket, or deleted, by this storage."""
        return self._uploads.done + self._timestamps

    @classmethod
    def open(
        cls,
        store: ObjectStore,
        work: Path,
        *,
        pages_in_bucket: bool = True,
        purge_command: Sequence[str] | None = None,
        copies: bool = False,
        **extra: Any,
    ) -> S3Storage:
        """A storage over ``store`` with its work tree pulled (see :meth:`pull`)."""
        Path(work).mkdir(parents=True, exist_ok=True)
        storage = cls(
            store, work, pages_in_bucket=pages_in_bucket, purge_command=purge_command, **extra
        )
        storage.pull(copies=copies)
        return storage

    # -- pulling the bucket into the work tree --------------------------------------

    def pull(self, *, copies: bool = False) -> None:
        """Make the work tree show the bucket: ``tuf/``, the pages if they live in the
        bucket, and with ``copies`` every page copy too (verify and gc read them)."""
        self._uploads.wait()
        # Only tuf/ and simple/: packages/ (most of a bucket's objects) is never read.
        self._known = {
            o.relative: o
            for top in (layout.METADATA_DIR, layout.SIMPLE_DIR)
            for o in self.store.list(f"{top}/")
        }
        self._pull_dir(layout.METADATA_DIR, lambda _rel: True)
        self._sweep(layout.METADATA_DIR, lambda _rel: True)

        def wanted(rel: str) -> bool:
            is_copy = _is_copy(rel)
            return (copies and is_copy) or (self.pages_in_bucket and not is_copy)

        if self.pages_in_bucket or copies:
            self._pull_dir(layout.SIMPLE_DIR, wanted)
        # A local copy the bucket lacks (written by a publish that died before its
        # upload) must go: the publisher takes a copy in the tree for one in the bucket.
        # Live pages the bucket lacks go too when the pages live in the bucket.
        self._sweep(layout.SIMPLE_DIR, lambda rel: self.pages_in_bucket or _is_copy(rel))

    def _pull_dir(self, top: str, wanted: Callable[[str], bool]) -> None:
        """Download what ``wanted`` picks under ``top`` unless the local file has its
        bytes; each file's mtime becomes the object's ``LastModified``."""
        for rel, info in self._known.items():
            if not rel.startswith(f"{top}/") or not wanted(rel) or not _safe(rel):
                continue
            local = self.root / rel
            if not _same_as_local(local, info):
                data = self.store.get(rel)
                if data is None:
                    continue  # deleted since the listing
                local.parent.mkdir(parents=True, exist_ok=True)
                replace_file(str(local), data, durable=False)
            stamp = info.modified.timestamp()
            os.utime(local, (stamp, stamp))

    def _sweep(self, top: str, removable: Callable[[str], bool]) -> None:
        """Delete files under ``top`` of the work tree that the bucket does not have."""
        for dirpath, _dirs, files in os.walk(self.root / top):
            for name in files:
                rel = Path(dirpath, name).relative_to(self.root).as_posix()
                if rel not in self._known and removable(rel):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(dirpath, name))

    # -- writing ---------------------------------------------------------------------

    def _relative(self, path: str) -> str:
        return Path(path).relative_to(self.root).as_posix()

    def _store(self, kind: WriteKind, path: str, data: bytes | None, expect: bytes | None) -> bool:
        rel = self._relative(path)
        if data is None:
            existed = rel in self._known or os.path.lexists(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            if existed:
                self._submit(rel, lambda: self.store.delete(rel))
                self._known.pop(rel, None)
            return existed
        if kind is WriteKind.TIMESTAMP:
            return self._write_timestamp(rel, path, data, expect)
        if kind is WriteKind.COPY and not self.pages_in_bucket:
            self._upload_page_of(rel, data)
        if kind in _CREATE_ONLY:
            known = self._known.get(rel)
            if known is not None:
                same = known.same_bytes(data)
                if same is None:
                    same = self.store.get(rel) == data
                if not same:
                    if kind is WriteKind.COPY:
                        raise StorageError(str(self.store.exists_error(rel)))
                    raise FileExistsWithOtherBytes(path)
                self._write_local(path, data)
                return False
            self._submit(rel, lambda: self._create(rel, data))
        else:
            self._submit(rel, lambda: self.store.put(rel, data))
        self._known[rel] = _pending(rel, data)
        self._write_local(path, data)
        return True

    def _upload_page_of(self, copy: str, data: bytes) -> None:
        """Pages read from a local tree go to the bucket with their copy (same bytes)."""
        directory, name = copy.rsplit("/", 1)
        split = layout.split_consistent_name(name)
        if split is not None:
            page = f"{directory}/{split[1]}"
            self._submit(page, lambda: self.store.put(page, data))

    def _create(self, rel: str, data: bytes) -> None:
        try:
            self.store.create(rel, data)
        except ObjectExists as e:
            # Taken between the listing and this write: another publisher is writing.
            raise StorageError(f"{e}; another publisher is writing this repository") from None

    def _submit(self, rel: str, write: Callable[[], object]) -> None:
        self.changed.append(rel)
        try:
            self._uploads.submit(write)
        except StorageError:
            raise
        except Exception as e:
            raise StorageError(str(e)) from None

    def _write_local(self, path: str, data: bytes) -> None:
        try:
            replace_file(path, data, durable=False)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            replace_file(path, data, durable=False)

    def _write_timestamp(self, rel: str, path: str, data: bytes, expect: bytes | None) -> bool:
        self.barrier()  # every object the timestamp reaches is confirmed first
        try:
            swapped = self.store.swap(rel, data, expect)
        except Exception as e:
            raise StorageError(str(e)) from None
        if not swapped:
            raise ReplacedByOther(path)
        self._timestamps += 1
        self._known[rel] = _pending(rel, data)
        self._write_local(path, data)
        self.changed.append(rel)
        if not self.pages_in_bucket:
            self._drop_pages_gone_locally()
        changed, self.changed = self.changed, []
        if self.purge_command:
            try:
                run_purge_hook(self.purge_command, self.store, map(self.store.url.key, changed))
            except Exception as e:
                raise StorageError(str(e)) from None
        return True

    def _drop_pages_gone_locally(self) -> None:
        """Pages read from a local tree: a live page the tree no longer has is deleted
        from the bucket too, after the timestamp (which no longer signs it), as the
        page's target was dropped. Its signed copies stay until ``gc``."""
        for rel in [r for r in self._known if _is_live_page(r)]:
            if not os.path.lexists(self.root / rel):
                self._submit(rel, lambda rel=rel: self.store.delete(rel))
                del self._known[rel]
        self.barrier()

    def link_page(self, copy: str, page: str) -> None:
        raise StorageError("--link-copies is for a local repository, not an object store")

    def barrier(self) -> None:
        """Return once every object written so far is confirmed in the bucket."""
        self._unsynced.clear()
        self._unsynced_by_workers = 0
        try:
            self._uploads.wait()
        except StorageError:
            raise
        except Exception as e:
            raise StorageError(str(e)) from None

    def sync_dirs(self) -> None:
        """Nothing: the bucket, not the work tree, is what must be durable."""

    def close(self) -> None:
        self._uploads.close()


def _pending(rel: str, data: bytes) -> RemoteObject:
    """What a listing would say about an object just written (for later checks)."""
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    return RemoteObject(rel, len(data), etag, utcnow())


def _is_copy(rel: str) -> bool:
    return layout.split_consistent_name(rel.rsplit("/", 1)[-1]) is not None


def _is_live_page(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 3 and parts[0] == layout.SIMPLE_DIR and parts[2] in layout.PAGE_FORMS


def _safe(rel: str) -> bool:
    """Only names the layout allows touch the work tree (keys come from the network)."""
    parts = rel.split("/")
    if parts[0] == layout.METADATA_DIR:
        return len(parts) == 2 and _TUF_NAME.match(parts[1]) is not None
    if parts[0] == layout.SIMPLE_DIR and len(parts) == 3:
        if not layout.is_normalized(parts[1]):
            return False
        return parts[2] in layout.PAGE_FORMS or _is_copy(rel)
    return False


def _same_as_local(local: Path, info: RemoteObject) -> bool:
    try:
        data = local.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False
    same = info.same_bytes(data)
    if same is None:
        return False
    return same
