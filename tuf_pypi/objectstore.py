"""Object storage (the S3 API) for the repository and for mirrors, through boto3.

Shared by both sides (DESIGN §7: ``repository/`` and ``mirror/`` never import each
other). What lives here is only what an object store needs whoever writes to it:

- :class:`ObjectStoreURL`: ``s3://BUCKET/PREFIX``, validated;
- :func:`object_headers`: ``Content-Type`` and ``Cache-Control`` of a key, the
  same rules as ``nginx/tuf-pypi.conf`` (so a CDN in front behaves the same);
- :class:`ObjectStore`: list, get, create-only put, swapped put, delete, each
  error naming bucket, key and cause;
- :class:`Uploads`: a bounded pool of parallel writes, waited on as one barrier;
- :func:`run_purge_hook`: the CDN purge command, given the changed keys.

Signing, credentials, retries with back-off (botocore's "standard" mode retries
throttling answers such as ``SlowDown`` with exponential back-off and jitter) all
come from boto3/botocore: nothing here speaks HTTP itself. Credentials come only
from boto3's usual chain (environment, ``~/.aws``, instance roles), never from
the command line.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import RepoError, SettingError

__all__ = [
    "DEFAULT_PARALLEL",
    "ObjectExists",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStoreURL",
    "PushReport",
    "RemoteObject",
    "Uploads",
    "is_object_store_url",
    "object_headers",
    "push_tree",
    "run_purge_hook",
]

#: Parallel requests by default: enough to hide round trips, few enough for any store.
DEFAULT_PARALLEL = 16
SCHEME = "s3://"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._~+-]+$")

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PAGE = "public, max-age=600"
_JSON = "application/json"
_HTML = "text/html"
_PEP691 = "application/vnd.pypi.simple.v1+json"
_VERSIONED_METADATA = re.compile(r"^tuf/[1-9][0-9]*\.[^/]+\.json$")
_PAGE_COPY = re.compile(r"^simple/[^/]+/[0-9a-f]{64}\.index\.(html|v1_json)$")


class ObjectStoreError(RepoError):
    """A request to the object store failed; the message names bucket, key and cause."""


class ObjectExists(ObjectStoreError):
    """A create-only write found the key holding other bytes: refused, never overwritten."""


def is_object_store_url(text: str) -> bool:
    return str(text).startswith(SCHEME)


@dataclass(frozen=True)
class ObjectStoreURL:
    """``s3://BUCKET/PREFIX``: where the index root lives in a bucket."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> ObjectStoreURL:
        """Validate an ``s3://`` URL; SettingError naming it and the rule it breaks."""
        if not is_object_store_url(text):
            raise SettingError(f"{text!r} is not an s3://BUCKET/PREFIX URL")
        bucket, _, prefix = text[len(SCHEME) :].partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise SettingError(
                f"{text!r}: bucket {bucket!r} is not a valid S3 bucket name "
                "(3-63 characters: lower-case letters, digits, '.' and '-')"
            )
        parts = [p for p in prefix.split("/") if p]
        for part in parts:
            if part in (".", "..") or not _PREFIX_PART.match(part):
                raise SettingError(
                    f"{text!r}: prefix part {part!r} is not allowed "
                    "(letters, digits and . _ ~ + - only; no '.' or '..')"
                )
        return cls(bucket, "/".join(parts))

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a path under the index root, '/'-separated)."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")


def object_headers(relative: str) -> tuple[str, str]:
    """``(Content-Type, Cache-Control)`` for a path under the index root.

    As ``nginx/tuf-pypi.conf`` does: ``timestamp.json`` and ``root.json`` are
    revalidated every time, versioned metadata, page copies and packages are
    immutable for a year, live pages are cached ten minutes.
    """
    name = relative.rsplit("/", 1)[-1]
    if relative.startswith("tuf/"):
        cache = IMMUTABLE if _VERSIONED_METADATA.match(relative) else REVALIDATE
        return _JSON, cache
    if relative.startswith("simple/"):
        kind = _PEP691 if name.endswith("v1_json") else _HTML
        return kind, IMMUTABLE if _PAGE_COPY.match(relative) else PAGE
    if relative.startswith("packages/"):
        return "application/octet-stream", IMMUTABLE
    return "application/octet-stream", PAGE


@dataclass(frozen=True)
class RemoteObject:
    """What a listing says about one object."""

    relative: str
    size: int
    etag: str
    modified: datetime

    def same_bytes(self, data: bytes) -> bool | None:
        """True/False when the ETag is a plain MD5 (single-part PUT), None if unknown."""
        etag = self.etag.strip('"')
        if "-" in etag or len(etag) != 32:
            return None
        return len(data) == self.size and hashlib.md5(data).hexdigest() == etag


def _md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


class ObjectStore:
    """One bucket and prefix, spoken to through one thread-safe boto3 client."""

    def __init__(
        self,
        url: ObjectStoreURL,
        *,
        endpoint_url: str | None = None,
        parallel: int = DEFAULT_PARALLEL,
        confirm: bool = True,
        attempts: int = 10,
        client: Any = None,
    ) -> None:
        self.url = url
        self.endpoint_url = endpoint_url
        self.parallel = max(1, parallel)
        #: Read each object back (HEAD, matching ETag) before counting it written:
        #: what makes the write order hold on a store that is only eventually consistent.
        self.confirm = confirm
        if client is None:
            client = _make_client(endpoint_url, self.parallel, attempts)
        self.client = client

    def __str__(self) -> str:
        return str(self.url)

    def _where(self, relative: str) -> str:
        return f"s3://{self.url.bucket}/{self.url.key(relative)}"

    def _call(self, relative: str, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(Bucket=self.url.bucket, **kwargs)
        except Exception as e:
            raise _error(self._where(relative), what, e) from None

    # -- reading -------------------------------------------------------------------

    def list(self, relative_prefix: str = "") -> Iterator[RemoteObject]:
        """Every object under ``relative_prefix`` (a path under the index root)."""
        prefix = self.url.key(relative_prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.url.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    yield RemoteObject(
                        self.url.relative(item["Key"]),
                        item["Size"],
                        item.get("ETag", ""),
                        item["LastModified"],
                    )
        except ObjectStoreError:
            raise
        except Exception as e:
            raise _error(self._where(relative_prefix), "listing", e) from None

    def get(self, relative: str) -> bytes | None:
        """The object's bytes, or None if there is no such object."""
        try:
            answer = self.client.get_object(Bucket=self.url.bucket, Key=self.url.key(relative))
            return answer["Body"].read()
        except Exception as e:
            if _code(e) in ("NoSuchKey", "404"):
                return None
            raise _error(self._where(relative), "reading", e) from None

    def head(self, relative: str) -> RemoteObject | None:
        try:
            answer = self.client.head_object(Bucket=self.url.bucket, Key=self.url.key(relative))
        except Exception as e:
            if _code(e) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise _error(self._where(relative), "reading", e) from None
        return RemoteObject(
            relative, answer["ContentLength"], answer.get("ETag", ""), answer["LastModified"]
        )

    # -- writing -------------------------------------------------------------------

    def _put(self, relative: str, data: bytes, **conditions: str) -> None:
        content_type, cache_control = object_headers(relative)
        self._call(
            relative,
            "writing",
            self.client.put_object,
            Key=self.url.key(relative),
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
            **conditions,
        )
        if self.confirm:
            self._confirm(relative, data)

    def _confirm(self, relative: str, data: bytes, timeout: float = 30.0) -> None:
        """Wait until the store answers with these bytes' ETag for ``relative``."""
        expected, delay, deadline = _md5_etag(data), 0.05, time.monotonic() + timeout
        while True:
            found = self.head(relative)
            if found is not None and (found.etag == expected or "-" in found.etag):
                return
            if time.monotonic() > deadline:
                raise ObjectStoreError(
                    f"{self._where(relative)}: written, but not readable with the "
                    f"written bytes after {timeout:.0f}s (the store is not consistent)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def put(self, relative: str, data: bytes) -> None:
        """Write (or overwrite) one object, with its kind's headers."""
        self._put(relative, data)

    def create(self, relative: str, data: bytes, known: RemoteObject | None = None) -> bool:
        """Write an object that must never change: False if it already holds ``data``.

        Raises :class:`ObjectExists` if the key holds other bytes. ``known`` is what a
        listing said about the key (saves a request); the write itself is conditional
        (``If-None-Match: *``), so a writer racing this one is caught too.
        """
        if known is not None:
            same = known.same_bytes(data)
            if same is None:
                same = self.get(relative) == data
            if same:
                return False
            raise self.exists_error(relative)
        try:
            self._put(relative, data, IfNoneMatch="*")
        except ObjectStoreError as e:
            if not _is_precondition(e):
                raise
            if self.get(relative) == data:
                return False
            raise self.exists_error(relative) from None
        return True

    def exists_error(self, relative: str) -> ObjectExists:
        return ObjectExists(
            f"{self._where(relative)} already exists with other bytes; refusing to "
            "overwrite an object that must never change (another writer, or a tool "
            "that is not tuf-pypi, wrote it)"
        )

    def swap(self, relative: str, data: bytes, expect: bytes | None) -> bool:
        """Replace an object only if it still holds ``expect`` (None: only if absent).

        False if another writer changed it first. Conditional on the ETag read, so
        a writer between the read and the write is caught by the store.
        """
        current = self.head(relative)
        if expect is None:
            if current is not None:
                return False
            conditions = {"IfNoneMatch": "*"}
        else:
            if current is None:
                return False
            if current.etag != _md5_etag(expect) and self.get(relative) != expect:
                return False
            conditions = {"IfMatch": current.etag}
        try:
            self._put(relative, data, **conditions)
        except ObjectStoreError as e:
            if _is_precondition(e):
                return False
            raise
        return True

    def delete(self, relative: str) -> None:
        self._call(relative, "deleting", self.client.delete_object, Key=self.url.key(relative))

    def uploads(self) -> Uploads:
        return Uploads(self.parallel)


class _Precondition(ObjectStoreError):
    pass


def _is_precondition(error: Exception) -> bool:
    return isinstance(error, _Precondition)


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _error(where: str, what: str, error: Exception) -> ObjectStoreError:
    """One line naming bucket, key and cause; never a credential."""
    code = _code(error)
    if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
        return _Precondition(f"{where}: {what}: precondition failed ({code})")
    name = type(error).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        cause = (
            "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or use an instance role)"
        )
    elif code:
        message = getattr(error, "response", {}).get("Error", {}).get("Message", "")
        cause = f"{code}: {message}".rstrip(": ")
    else:
        cause = f"{name}: {error}"
    return ObjectStoreError(f"{where}: {what} failed: {cause}")


def _make_client(endpoint_url: str | None, parallel: int, attempts: int) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ObjectStoreError("s3:// needs boto3: pip install 'tuf-pypi[s3]'") from None
    config = Config(
        # "standard": throttling (SlowDown, 503) and transient errors are retried
        # with exponential back-off and jitter, up to max_attempts in all.
        retries={"mode": "standard", "total_max_attempts": attempts},
        max_pool_connections=parallel + 2,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


class Uploads:
    """Writes running on a bounded pool; :meth:`wait` is the barrier.

    At most ``2 * parallel`` writes are queued or running at once (``submit``
    blocks beyond that), so a full publish never holds every page in memory twice.
    The first failure is raised by the next :meth:`submit` or :meth:`wait`.
    """

    def __init__(self, parallel: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="s3-write")
        self._slots = threading.BoundedSemaphore(parallel * 2)
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._failed: BaseException | None = None
        self.done = 0

    def submit(self, write: Callable[[], Any]) -> None:
        self._raise_failure()
        self._slots.acquire()
        future = self._pool.submit(write)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
            error = future.exception()
            if error is not None and self._failed is None:
                self._failed = error
            elif error is None:
                self.done += 1
        self._slots.release()

    def _raise_failure(self) -> None:
        with self._lock:
            failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def wait(self) -> None:
        """Return once every write so far is confirmed; raise the first failure."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                break
            for future in pending:
                future.exception()  # waits
        self._raise_failure()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def run_purge_hook(command: Sequence[str], store: ObjectStore, keys: Iterable[str]) -> None:
    """Run the CDN purge command: changed object keys on stdin, one per line.

    Called after the timestamp is written. Keys go on stdin, not argv, since a
    full publish changes more than a command line holds. The environment gets
    ``TUF_PYPI_BUCKET`` and ``TUF_PYPI_PREFIX``. A failing hook is an error (the
    repository is already consistent; the CDN may serve stale copies of the
    changed keys until their cache time runs out).
    """
    text = "".join(f"{key}\n" for key in keys)
    env = dict(os.environ, TUF_PYPI_BUCKET=store.url.bucket, TUF_PYPI_PREFIX=store.url.prefix)
    try:
        done = subprocess.run(
            list(command), input=text.encode(), env=env, capture_output=True, check=False
        )
    except OSError as e:
        raise ObjectStoreError(f"CDN purge hook {command[0]!r} could not run: {e}") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise ObjectStoreError(
            f"CDN purge hook {command[0]!r} exited {done.returncode} "
            f"(the repository is published; purge these keys by hand): {detail[0]}"
        )


# -- pushing a local tree (a mirror's staging copy) -----------------------------------

_LIVE_PAGE = re.compile(r"^simple/[a-z0-9][a-z0-9-]*/index\.(html|v1_json)$|^simple/index\.html$")
_LAST = ("tuf/root.json", "tuf/timestamp.json")
_SERVED = ("tuf", "simple", "packages")


@dataclass
class PushReport:
    """What :func:`push_tree` did, by object key relative to the prefix."""

    written: list[str]
    unchanged: int
    deleted: list[str]

    @property
    def objects(self) -> int:
        return len(self.written) + len(self.deleted)


def _local_files(root: Path) -> Iterator[str]:
    for top in _SERVED:
        base = root / top
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and not name.endswith(".gz"):
                    yield Path(dirpath, name).relative_to(root).as_posix()


def push_tree(
    root: Path,
    store: ObjectStore,
    *,
    purge_command: Sequence[str] | None = None,
) -> PushReport:
    """Make the bucket serve the static tree at ``root`` (``tuf/``, ``simple/``,
    ``packages/``), in DESIGN §5 order for an eventually consistent store.

    1. every object that never changes (packages, page copies, ``N.role.json``)
       is created, in parallel, and confirmed; one that exists with other bytes is
       refused (:class:`ObjectExists`), never overwritten;
    2. ``root.json`` then ``timestamp.json``, the only metadata that is replaced;
    3. the live pages (for installers without TUF), and live pages the tree no
       longer has are deleted;
    4. the CDN purge hook, given every key written or deleted.

    Incremental: an object already there with the same bytes (its ETag) is left.
    """
    listing = {o.relative: o for o in store.list("")}
    files = sorted(set(_local_files(root)))
    late = [rel for rel in _LAST if rel in files]
    live = [rel for rel in files if _LIVE_PAGE.match(rel)]
    fixed = [rel for rel in files if rel not in late and not _LIVE_PAGE.match(rel)]
    report = PushReport([], 0, [])
    uploads = store.uploads()
    try:
        for rel in fixed:
            known = listing.get(rel)
            if known is not None and rel.startswith("packages/"):
                if known.size != (root / rel).stat().st_size:
                    raise store.exists_error(rel)
                report.unchanged += 1
                continue
            data = (root / rel).read_bytes()
            if known is not None:
                if known.same_bytes(data) is False:
                    raise store.exists_error(rel)
                report.unchanged += 1
                continue
            report.written.append(rel)
            uploads.submit(lambda rel=rel, data=data: store.create(rel, data))
        uploads.wait()  # everything the timestamp reaches is confirmed first
        for group in (late, live):
            for rel in group:
                data = (root / rel).read_bytes()
                known = listing.get(rel)
                if known is not None and known.same_bytes(data):
                    report.unchanged += 1
                    continue
                report.written.append(rel)
                if group is late:
                    store.put(rel, data)  # in order: root.json, then timestamp.json
                else:
                    uploads.submit(lambda rel=rel, data=data: store.put(rel, data))
        gone = sorted(rel for rel in listing if _LIVE_PAGE.match(rel) and rel not in live)
        for rel in gone:
            report.deleted.append(rel)
            uploads.submit(lambda rel=rel: store.delete(rel))
        uploads.wait()
    finally:
        uploads.close()
    if purge_command and report.objects:
        run_purge_hook(purge_command, store, map(store.url.key, report.written + report.deleted))
    return report
