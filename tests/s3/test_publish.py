"""The repository in a bucket: init, publish, incremental publish, verify, status, gc,
object metadata for a CDN, the purge hook, and clients reading the bucket over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from tuf.ngclient import Updater

from tuf_pypi.cli import main
from tuf_pypi.proxy import ProxyServer
from tuf_pypi.sample import SampleDist, add_release, build_index
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE

from .bucket import REPLACED_BY_DEMO_LIB, Bucket, replaced

ENV = {"TUF_PYPI_PASSPHRASE": PASSPHRASE, "TUF_PYPI_OFFLINE_PASSPHRASE": OFFLINE_PASSPHRASE}
#: Offline keys with a cheap KDF: these keys guard nothing.
FAST = ("--kdf-limits", "interactive")
IMMUTABLE = "public, max-age=31536000, immutable"


def run(*args: str):
    return CliRunner().invoke(main, list(args), env=ENV)


def on(bucket: Bucket, *extra: str) -> list[str]:
    return ["--repo", bucket.url, "--s3-endpoint-url", bucket.server.endpoint, *extra]


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def published_from_a_tree(bucket: Bucket, tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """The sample index in a local tree, initialised and published into ``bucket``."""
    index, keys = tmp_path / "index", tmp_path / "keys"
    build_index(index)
    args = on(bucket, "--s3-pages", str(index), "--keys-dir", str(keys))
    ok(run("init", *args, "--bins", "16", *FAST))
    ok(run("publish", *args))
    return index, keys, args


def _copies(objects: dict[str, bytes]) -> set[str]:
    return {rel for rel in objects if rel.startswith("simple/") and ".index." in rel}


def test_init_publish_incremental_from_a_local_tree(bucket: Bucket, tmp_path: Path) -> None:
    index, keys = tmp_path / "index", tmp_path / "keys"
    build_index(index)
    args = on(bucket, "--s3-pages", str(index), "--keys-dir", str(keys))
    out = ok(run("init", *args, "--bins", "16", *FAST))
    assert f"Initialised {bucket.url}/tuf" in out
    assert "tuf/1.root.json" in bucket.objects() and "timestamp.json" not in os.listdir(keys)

    report = json.loads(ok(run("publish", *args, "--json")))
    assert len(report["added"]) == 8 and report["timestamp_version"] == 2
    objects = bucket.objects()
    for page in sorted((index / "simple").glob("*/index.*")):
        rel = page.relative_to(index).as_posix()
        digest = hashlib.sha256(page.read_bytes()).hexdigest()
        copy = f"{rel.rsplit('/', 1)[0]}/{digest}.{page.name}"
        assert objects[copy] == objects[rel] == page.read_bytes()

    # Object metadata as nginx/tuf-pypi.conf serves it.
    expected = {
        "tuf/timestamp.json": ("application/json", "no-cache"),
        "tuf/root.json": ("application/json", "no-cache"),
        "tuf/2.snapshot.json": ("application/json", IMMUTABLE),
        "tuf/1.root.json": ("application/json", IMMUTABLE),
        "simple/demo-lib/index.html": ("text/html", "public, max-age=600"),
        "simple/demo-lib/index.v1_json": (
            "application/vnd.pypi.simple.v1+json",
            "public, max-age=600",
        ),
    }
    copy = next(rel for rel in _copies(objects) if rel.endswith(".index.v1_json"))
    expected[copy] = ("application/vnd.pypi.simple.v1+json", IMMUTABLE)
    for rel, (content_type, cache) in expected.items():
        head = bucket.head(rel)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache), rel

    # verify and status read the bucket only (a fresh work tree, pages from the bucket).
    assert ok(run("verify", *on(bucket))).startswith("OK: ")
    status = json.loads(ok(run("status", *on(bucket), "--json")))
    assert status["targets"] == 8 and status["status"] == "ok"

    # Incremental: one project changes; only its objects, its bins, the snapshot and
    # the timestamp are written, and no object is ever overwritten but the timestamp
    # and the live pages.
    add_release(index, SampleDist("demo-lib", "3.0"))
    before = bucket.objects()
    report = json.loads(ok(run("publish", *args, "--json")))
    assert report["changed"] == [
        "simple/demo-lib/index.html",
        "simple/demo-lib/index.v1_json",
    ]
    after = bucket.objects()
    assert replaced(before, after) == REPLACED_BY_DEMO_LIB
    new = set(after) - set(before)
    assert {rel for rel in new if rel.startswith("simple/")} == {
        rel for rel in _copies(after) - _copies(before) if rel.startswith("simple/demo-lib/")
    }
    assert len([rel for rel in new if ".bin-" in rel]) == len(report["bins_signed"])
    assert "tuf/3.snapshot.json" in new
    assert ok(run("verify", *on(bucket))).startswith("OK: ")
    assert "nothing changed" in ok(run("publish", *args))
    assert bucket.objects() == after

    # A project gone from the local tree: unsigned, and its live pages leave the
    # bucket after the timestamp; its signed copies stay for clients mid-update.
    shutil.rmtree(index / "simple/demo-app")
    report = json.loads(ok(run("publish", *args, "--json")))
    assert report["removed"] == ["simple/demo-app/index.html", "simple/demo-app/index.v1_json"]
    now = bucket.objects()
    assert not [rel for rel in now if rel.startswith("simple/demo-app/index.")]
    assert {rel for rel in _copies(after) if "demo-app" in rel} <= set(now)
    assert ok(run("verify", *on(bucket))).startswith("OK: ")


def test_pages_from_the_bucket_clients_read_it_over_http(bucket: Bucket, tmp_path: Path) -> None:
    """Pages written into the bucket by another tool; ngclient and the verifying
    proxy read the repository from the S3 endpoint (anonymous path-style GETs)."""
    index, keys = tmp_path / "index", tmp_path / "keys"
    build_index(index)
    bucket.upload_pages(index)
    for dist in sorted((index / "packages").rglob("*")):
        if dist.is_file():
            bucket.put(dist.relative_to(index).as_posix(), dist.read_bytes())
    args = on(bucket, "--keys-dir", str(keys), "--s3-work-dir", str(tmp_path / "work"))
    ok(run("init", *args, "--bins", "16", *FAST))
    assert json.loads(ok(run("publish", *args, "--json")))["timestamp_version"] == 2

    # A new release written into the bucket by the other tool, then published.
    add_release(index, SampleDist("demo-lib", "3.0"))
    bucket.upload_pages(index)
    for dist in (index / "packages").rglob("demo_lib-3.0*"):
        bucket.put(dist.relative_to(index).as_posix(), dist.read_bytes())
    report = json.loads(ok(run("publish", *args, "--json")))
    assert report["changed"] == ["simple/demo-lib/index.html", "simple/demo-lib/index.v1_json"]

    # python-tuf's ngclient, trusting 1.root.json, reads the bucket over HTTP.
    metadata = tmp_path / "ngclient"
    metadata.mkdir()
    updater = Updater(
        bootstrap=bucket.get_http("tuf/1.root.json"),
        metadata_dir=str(metadata),
        metadata_base_url=f"{bucket.http}/tuf/",
        target_base_url=f"{bucket.http}/",
        target_dir=str(tmp_path / "targets"),
    )
    updater.refresh()
    info = updater.get_targetinfo("simple/demo-lib/index.v1_json")
    assert info is not None
    path = updater.download_target(info)
    page = (index / "simple/demo-lib/index.v1_json").read_bytes()
    assert Path(path).read_bytes() == page and b"3.0" in page

    # The verifying proxy, with the bucket as its mirror, serves verified pages and files.
    cache = tmp_path / "proxy-cache"
    root_bytes = bucket.get_http("tuf/1.root.json")
    with ProxyServer([bucket.http], root_bytes, cache).start() as proxy:
        request = urllib.request.Request(
            f"{proxy.url}demo-lib/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            served = json.loads(answer.read())
        wheel = next(f for f in served["files"] if f["filename"].startswith("demo_lib-3.0"))
        link = urllib.parse.urljoin(f"{proxy.url}demo-lib/", wheel["url"])
        with urllib.request.urlopen(link, timeout=30) as answer:
            data = answer.read()
        assert hashlib.sha256(data).hexdigest() == wheel["hashes"]["sha256"]


def test_purge_hook_gets_the_changed_keys(bucket: Bucket, tmp_path: Path) -> None:
    index, keys = tmp_path / "index", tmp_path / "keys"
    build_index(index)
    log = tmp_path / "purged"
    hook = tmp_path / "purge.py"
    hook.write_text(
        f"import os, sys\nwith open({str(log)!r}, 'a') as f:\n"
        "    f.write(os.environ['TUF_PYPI_BUCKET'] + '\\n' + sys.stdin.read())\n"
    )
    purge = ["--cdn-purge-command", f"{sys.executable} {hook}"]
    args = on(bucket, "--s3-pages", str(index), "--keys-dir", str(keys), *purge)
    ok(run("init", *args, "--bins", "16", *FAST))
    log.unlink()
    ok(run("publish", *args))
    lines = log.read_text().splitlines()
    assert lines[0] == bucket.name
    keys_purged = set(lines[1:])
    assert f"{bucket.prefix}/tuf/timestamp.json" == lines[-1]
    assert f"{bucket.prefix}/simple/demo-lib/index.html" in keys_purged
    assert f"{bucket.prefix}/tuf/2.snapshot.json" in keys_purged

    failing = tmp_path / "fail.sh"
    failing.write_text("#!/bin/sh\necho 'cdn says no' >&2\nexit 7\n")
    failing.chmod(failing.stat().st_mode | stat.S_IXUSR)
    add_release(index, SampleDist("demo-lib", "3.0"))
    args = on(bucket, "--s3-pages", str(index), "--keys-dir", str(keys))
    result = run("publish", *args, "--cdn-purge-command", str(failing))
    assert result.exit_code == 1
    assert "exited 7" in result.output and "cdn says no" in result.output
    assert "published" in result.output  # the timestamp was written before the hook
    assert ok(run("verify", *on(bucket))).startswith("OK: ")


def test_gc_on_a_bucket(bucket: Bucket, tmp_path: Path) -> None:
    index, keys, args = published_from_a_tree(bucket, tmp_path)
    first = bucket.objects()
    add_release(index, SampleDist("demo-lib", "3.0"))
    ok(run("publish", *args, "--s3-no-confirm", "--s3-parallel", "2"))  # PUT counts
    add_release(index, SampleDist("demo-lib", "4.0"))
    ok(run("publish", *args))
    live = bucket.objects()
    old_copies = {
        rel for rel in _copies(first) if rel.startswith("simple/demo-lib/") and "/index." not in rel
    }
    assert old_copies and old_copies <= set(live)

    # Within the grace period nothing goes.
    gc = ["gc", *on(bucket), "--keys-dir", str(keys)]
    out = ok(run(*gc, "--json"))
    assert json.loads(out)["deleted_pages"] == []
    # With no grace, what no live snapshot references goes, from the bucket.
    report = json.loads(ok(run(*gc, "--grace", "0s", "--json")))
    assert set(report["deleted_pages"]) >= old_copies
    assert "1.snapshot.json" in report["deleted_metadata"]
    now = bucket.objects()
    assert not old_copies & set(now)
    assert "tuf/1.snapshot.json" not in now and "tuf/1.root.json" in now
    assert ok(run("verify", *on(bucket))).startswith("OK: ")


def test_queue_publisher_on_a_bucket(bucket: Bucket, tmp_path: Path) -> None:
    """``tuf-pypi publisher`` (fenced storage, batch path) writes pages into the bucket."""
    index, keys = tmp_path / "index", tmp_path / "keys"
    build_index(index)
    bucket.upload_pages(index)
    args = on(bucket, "--keys-dir", str(keys), "--s3-work-dir", str(tmp_path / "work"))
    ok(run("init", *args, "--bins", "16", *FAST))
    ok(run("publish", *args))
    add_release(index, SampleDist("demo-lib", "3.0"))
    html = index / "simple/demo-lib/index.html"
    db = ["--db", f"sqlite:///{tmp_path / 'queue.db'}"]
    ok(run("queue", "enqueue", *db, "demo-lib", "--html", str(html)))
    ok(run("queue", "enqueue", *db, "demo-app", "--delete"))
    out = ok(run("publisher", *args, *db, "--once"))
    assert "published 2 updates in 1 batches" in out
    objects = bucket.objects()
    digest = hashlib.sha256(html.read_bytes()).hexdigest()
    assert objects["simple/demo-lib/index.html"] == html.read_bytes()
    assert objects[f"simple/demo-lib/{digest}.index.html"] == html.read_bytes()
    assert "simple/demo-app/index.html" not in objects
    assert ok(run("verify", *on(bucket))).startswith("OK: ")
    status = json.loads(ok(run("status", *on(bucket), "--json")))
    assert status["targets"] == 6  # demo-app deleted (both forms)


def test_refresh_and_rebin_on_a_bucket(bucket: Bucket, tmp_path: Path) -> None:
    _index, _keys, args = published_from_a_tree(bucket, tmp_path)
    assert "timestamp v3" in ok(run("refresh", *args, "--within", "30d"))
    out = ok(run("rebin", *args, "--bins", "32"))
    assert "16 -> 32 bins" in out
    # A client that never saw this machine's work tree: a fresh pull of the bucket.
    status = json.loads(ok(run("status", *on(bucket), "--json")))
    assert status["bins"] == 32 and status["targets"] == 8
    assert ok(run("verify", *on(bucket))).startswith("OK: ")


def test_errors_name_bucket_key_and_cause(bucket: Bucket, tmp_path: Path, monkeypatch) -> None:
    result = run("status", "--repo", "s3://no-such-bucket-here/x", *on(bucket)[2:])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("error: s3://no-such-bucket-here/x/tuf/: listing failed: ")
    assert "NoSuchBucket" in result.output
    result = run("verify", "--repo", "s3://Bad_Name/x")
    assert result.exit_code == 2 and "not a valid S3 bucket name" in result.output
    # The keys may not live in the local tree whose pages are uploaded.
    index = tmp_path / "index"
    build_index(index)
    args = on(bucket, "--s3-pages", str(index), "--keys-dir", str(index / "keys"))
    result = run("init", *args, *FAST)
    assert result.exit_code == 1 and "it would be served to anyone" in result.output
    # Credentials only from the environment/config chain; none: a clear error.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run("status", *on(bucket))
    assert result.exit_code == 1 and "no AWS credentials found" in result.output
