"""DESIGN §5 on an object store: a crash between any two object writes leaves the
previous state valid and the next publish finishes; objects never change bytes;
throttling is retried with back-off; errors name bucket, key and cause."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tuf_pypi import layout
from tuf_pypi.errors import SettingError
from tuf_pypi.keys import KeyDirectory
from tuf_pypi.objectstore import ObjectExists, ObjectStore, ObjectStoreError, ObjectStoreURL
from tuf_pypi.repository import (
    Publisher,
    StorageError,
    init_repository,
    load_view,
    verify_repository,
)
from tuf_pypi.repository.publisher import utcnow
from tuf_pypi.repository.s3 import S3Storage
from tuf_pypi.repository.storage import WriteKind
from tuf_pypi.sample import SampleDist, add_release, build_index
from tuf_pypi.testing.passphrases import OFFLINE, OFFLINE_PASSPHRASE, PASSPHRASE

from .bucket import Bucket


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


class LosingStore(ObjectStore):
    """With ``lost``, no write reaches the bucket: the process dies before any of the
    requests it queued is sent, after its work tree was written."""

    lost = False

    def create(self, relative: str, data: bytes, known=None) -> bool:
        return False if self.lost else super().create(relative, data, known)

    def put(self, relative: str, data: bytes) -> None:
        if not self.lost:
            super().put(relative, data)


class CrashingS3Storage(S3Storage):
    """Dies before write number ``crash_at`` (every write passes here: no workers)."""

    crash_at = -1

    def before_write(self, kind: WriteKind, path: str) -> None:
        if self.writes == self.crash_at:
            raise Crash(f"crash before {kind.value} {path}")


def _store(bucket: Bucket, endpoint: str | None = None, **kwargs) -> ObjectStore:
    url = ObjectStoreURL.parse(bucket.url)
    return ObjectStore(url, endpoint_url=endpoint or bucket.server.endpoint, **kwargs)


def _publisher(storage: S3Storage, keys: Path) -> Publisher:
    directory = KeyDirectory(
        keys,
        passphrase=lambda _label: PASSPHRASE,
        offline_passphrase=lambda _label: OFFLINE_PASSPHRASE,
    )
    return Publisher(storage.root, directory, storage=storage, processes=1)


def _verify(bucket: Bucket, work: Path):
    """verify as ``tuf-pypi verify --repo s3://...`` does: a fresh pull of the bucket."""
    shutil.rmtree(work, ignore_errors=True)
    storage = S3Storage.open(_store(bucket), work, copies=True)
    return storage, verify_repository(storage, utcnow())


def _signed_targets(storage: S3Storage) -> dict[str, str]:
    view = load_view(storage)
    return {
        path: target.hashes["sha256"]
        for name in view.bin_names()
        for path, target in view.bin(name).signed.targets.items()
    }


@pytest.fixture
def published(bucket: Bucket, tmp_path: Path) -> tuple[Path, Path]:
    """A local index tree published to the bucket, with changes pending."""
    index, keys = tmp_path / "index", tmp_path / "keys"
    build_index(index)
    storage = S3Storage.open(_store(bucket), index, pages_in_bucket=False)
    init_repository(
        index, keys, PASSPHRASE, **OFFLINE, number_of_bins=16, now=utcnow(), storage=storage
    )
    _publisher(storage, keys).publish()
    add_release(index, SampleDist("demo-lib", "3.0"))
    add_release(index, SampleDist("demo-new", "0.1"))
    return index, keys


def test_crash_between_every_pair_of_object_writes(
    bucket: Bucket, tmp_path: Path, published: tuple[Path, Path]
) -> None:
    index, keys = published
    saved = bucket.objects()
    template = tmp_path / "template"
    shutil.copytree(index, template)
    # Count the writes of a complete publish, then put the bucket back.
    counting = S3Storage.open(_store(bucket), index, pages_in_bucket=False)
    _publisher(counting, keys).publish()
    total = counting.writes
    assert total >= 8  # page copies, bins, snapshot, timestamp
    complete = _signed_targets(counting)

    url = ObjectStoreURL.parse(bucket.url)
    for crash_at, lose in itertools.product(range(total), (False, True)):
        bucket.replace_all(saved)
        tree = tmp_path / f"crash-{crash_at}-{lose}"
        shutil.copytree(template, tree)
        store = LosingStore(url, endpoint_url=bucket.server.endpoint)
        crashing = CrashingS3Storage.open(store, tree, pages_in_bucket=False)
        crashing.crash_at, store.lost = crash_at, lose
        with pytest.raises(Crash):
            _publisher(crashing, keys).publish()
        crashing.close()  # its uploads landed, or (lose) none reached the bucket
        # The bucket still serves the previous state, valid, with the changes pending.
        assert bucket.objects()["tuf/timestamp.json"] == saved["tuf/timestamp.json"]
        storage, report = _verify(bucket, tmp_path / "verify")
        assert report.ok, (crash_at, lose, report.problems)
        assert load_view(storage).timestamp.signed.version == 2
        # The next publish (a new process: a fresh pull of the same tree) finishes.
        again = S3Storage.open(_store(bucket), tree, pages_in_bucket=False)
        _publisher(again, keys).publish()
        storage, report = _verify(bucket, tmp_path / "verify")
        assert report.ok and not report.pending, (crash_at, lose, report.problems)
        assert load_view(storage).timestamp.signed.version == 3
        assert _signed_targets(storage) == complete, crash_at


def test_timestamp_is_written_only_after_every_object_is_confirmed(
    bucket: Bucket, published: tuple[Path, Path]
) -> None:
    index, keys = published
    seen: list[tuple[str, set[str]]] = []

    class Watching(ObjectStore):
        """A slow store (each object takes 0.3 s) that looks at the bucket the moment
        the timestamp is about to be sent."""

        def create(self, relative: str, data: bytes, known=None) -> bool:
            time.sleep(0.3)
            return super().create(relative, data, known)

        def swap(self, relative: str, data: bytes, expect: bytes | None) -> bool:
            seen.append((relative, set(bucket.keys())))
            return super().swap(relative, data, expect)

    url = ObjectStoreURL.parse(bucket.url)
    store = Watching(url, endpoint_url=bucket.server.endpoint, parallel=8)
    storage = S3Storage.open(store, index, pages_in_bucket=False)
    report = _publisher(storage, keys).publish()
    ((path, present),) = seen
    assert path == "tuf/timestamp.json"
    snapshot = layout.metadata_filename("snapshot", report.snapshot_version)
    wanted = {f"tuf/{snapshot}"} | {
        f"tuf/{layout.metadata_filename(layout.role_of_metadata_filename(name), meta.version)}"
        for name, meta in load_view(storage).snapshot.signed.meta.items()
    }
    assert len(wanted) > 3 and wanted <= present


def test_an_object_with_other_bytes_is_refused(
    bucket: Bucket, tmp_path: Path, published: tuple[Path, Path]
) -> None:
    index, keys = published
    page = (index / "simple/demo-lib/index.html").read_bytes()
    copy = f"simple/demo-lib/{hashlib.sha256(page).hexdigest()}.index.html"
    bucket.put(copy, b"<html>not the signed page</html>")
    before = bucket.objects()
    storage = S3Storage.open(_store(bucket), index, pages_in_bucket=False)
    with pytest.raises(StorageError) as caught:
        _publisher(storage, keys).publish()
    message = str(caught.value)
    assert f"s3://{bucket.name}/{bucket.key(copy)}" in message and "other bytes" in message
    storage.close()
    after = bucket.objects()
    assert after[copy] == b"<html>not the signed page</html>"
    assert after["tuf/timestamp.json"] == before["tuf/timestamp.json"]
    assert _verify(bucket, tmp_path / "verify")[1].ok

    # Another publisher's next bin version: never replaced, the publish moves past it.
    bucket.delete(copy)
    view = load_view(storage)
    name = view.bin_of(layout.page_target("demo-lib", "index.html"))
    taken = f"tuf/{layout.metadata_filename(name, view.version_of(name) + 1)}"
    bucket.put(taken, b'{"signed": "someone else"}')
    storage = S3Storage.open(_store(bucket), index, pages_in_bucket=False)
    _publisher(storage, keys).publish()
    assert bucket.objects()[taken] == b'{"signed": "someone else"}'
    fresh, report = _verify(bucket, tmp_path / "verify")
    assert report.ok and not report.pending, report.problems
    assert load_view(fresh).version_of(name) == view.version_of(name) + 2


def test_conditional_create_catches_a_racing_writer(bucket: Bucket) -> None:
    store = _store(bucket)
    assert store.create("tuf/5.snapshot.json", b"mine") is True
    assert store.create("tuf/5.snapshot.json", b"mine") is False  # same bytes: fine
    with pytest.raises(ObjectExists, match=rf"s3://{bucket.name}/index/tuf/5.snapshot.json"):
        store.create("tuf/5.snapshot.json", b"theirs")  # no listing: the store refuses
    assert store.get("tuf/5.snapshot.json") == b"mine"
    # The timestamp is swapped only over the bytes it was read as.
    assert store.swap("tuf/timestamp.json", b"t1", None)
    assert not store.swap("tuf/timestamp.json", b"t2", b"not-t1")
    assert store.swap("tuf/timestamp.json", b"t2", b"t1")
    assert store.get("tuf/timestamp.json") == b"t2"


@pytest.mark.parametrize(
    "text, message",
    [
        ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("s3://ok-bucket/a/../b", "'..' is not allowed"),
        ("s3://ok-bucket/a b", "'a b' is not allowed"),
        ("http://ok-bucket/x", "not an s3://"),
    ],
)
def test_bad_urls_are_refused(text: str, message: str) -> None:
    with pytest.raises(SettingError, match=message.replace(".", r"\.")):
        ObjectStoreURL.parse(text)


class _Throttling:
    """A loopback proxy in front of the S3 server answering ``503 SlowDown`` to every
    ``every``-th write (or all of them), as S3 does under load."""

    def __init__(self, upstream: str, every: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.throttled = 0
        proxy = self
        count = [0]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PUT":
                    count[0] += 1
                    if every == 1 or count[0] % every == 0:
                        proxy.throttled += 1
                        error = (
                            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown"
                            b"</Code><Message>Please reduce your request rate.</Message></Error>"
                        )
                        self.send_response(503)
                        self.send_header("Content-Length", str(len(error)))
                        self.end_headers()
                        self.wfile.write(error)
                        return
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"{host}:{port}"
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def throttling(bucket: Bucket) -> Iterator[callable]:
    proxies: list[_Throttling] = []

    def start(every: int) -> _Throttling:
        proxies.append(_Throttling(bucket.server.endpoint, every))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


def test_throttled_writes_are_retried_with_back_off(
    bucket: Bucket, tmp_path: Path, published: tuple[Path, Path], throttling
) -> None:
    index, keys = published
    proxy = throttling(every=3)
    storage = S3Storage.open(_store(bucket, proxy.endpoint), index, pages_in_bucket=False)
    report = _publisher(storage, keys).publish()
    assert proxy.throttled >= 3 and report.timestamp_version == 3
    assert _verify(bucket, tmp_path / "verify")[1].ok


def test_a_store_that_keeps_refusing_is_a_clear_error(bucket: Bucket, throttling) -> None:
    proxy = throttling(every=1)
    store = _store(bucket, proxy.endpoint, attempts=2)
    with pytest.raises(ObjectStoreError) as caught:
        store.put("tuf/timestamp.json", b"x")
    message = str(caught.value)
    assert message.startswith(f"s3://{bucket.name}/index/tuf/timestamp.json: writing failed")
    assert "SlowDown" in message and "testing-secret" not in message
    assert proxy.throttled == 2


def test_a_deposed_queue_publisher_writes_no_snapshot_or_timestamp(
    bucket: Bucket, published: tuple[Path, Path]
) -> None:
    """The queue publisher's storage on a bucket passes the lease check (the fence)."""
    from tuf_pypi.queue.s3 import FencedS3Storage

    index, keys = published
    checks: list[int] = []

    class Deposed(Exception):
        pass

    def check() -> None:
        checks.append(1)
        if len(checks) > 2:  # page copies, bins, then the lease is gone
            raise Deposed("another publisher took over")

    saved = bucket.objects()
    storage = FencedS3Storage.open(_store(bucket), index, pages_in_bucket=False, check=check)
    with pytest.raises(Deposed):
        _publisher(storage, keys).publish()
    storage.close()
    after = bucket.objects()
    assert after["tuf/timestamp.json"] == saved["tuf/timestamp.json"]
    assert "tuf/3.snapshot.json" not in after and len(checks) == 3


def test_object_names_from_the_bucket_are_validated_before_touching_the_work_tree(
    bucket: Bucket, tmp_path: Path, published: tuple[Path, Path]
) -> None:
    """A bucket is network input: only names of the layout land in the work tree."""
    hostile = [
        "tuf/../../escaped.json",
        "tuf/sub/1.bin-0.json",
        "simple/Not_Normalized/index.html",
        "simple/demo-lib/../../../escaped.html",
        "simple/demo-lib/evil.sh",
    ]
    for rel in hostile:
        bucket.put(rel, b"hostile")
    work = tmp_path / "deep" / "work"
    storage = S3Storage.open(_store(bucket), work, copies=True)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert not [p for p in written if "escaped" in p or p.endswith(("evil.sh", "Not_Normalized"))]
    assert not (work / "simple/Not_Normalized").exists() and not (work / "tuf/sub").exists()
    assert verify_repository(storage, utcnow()).ok


def test_uploads_are_bounded_and_the_barrier_raises_the_first_failure() -> None:
    from tuf_pypi.objectstore import Uploads

    uploads = Uploads(parallel=3)
    lock, running, most, submitted_ahead = threading.Lock(), [0], [0], []
    release = threading.Event()

    def write() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(5)
        with lock:
            running[0] -= 1

    submitter = threading.Thread(target=lambda: [uploads.submit(write) for _ in range(20)])
    submitter.start()
    time.sleep(0.5)
    submitted_ahead.append(len(uploads._pending))
    release.set()
    submitter.join(10)
    uploads.wait()
    assert most[0] == 3 and submitted_ahead == [6]  # 3 running, 3 queued, the rest waits
    assert uploads.done == 20

    def fail() -> None:
        raise ObjectStoreError("s3://b/k: writing failed: InternalError")

    uploads.submit(fail)
    with pytest.raises(ObjectStoreError, match="InternalError"):
        uploads.wait()
    uploads.close()
