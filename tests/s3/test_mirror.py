"""``tuf-pypi mirror sync --to s3://...``: a verified mirror in a bucket, served over HTTP."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from tuf.ngclient import Updater

from tuf_pypi.cli import main
from tuf_pypi.keys import KeyDirectory
from tuf_pypi.repository import Publisher, init_repository
from tuf_pypi.repository.publisher import utcnow
from tuf_pypi.sample import SampleDist, add_release, build_index
from tuf_pypi.testing import QuietHandler
from tuf_pypi.testing.passphrases import OFFLINE, OFFLINE_PASSPHRASE, PASSPHRASE

from .bucket import REPLACED_BY_DEMO_LIB, Bucket, replaced


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A local signed index served over HTTP: (index, keys, base URL)."""
    index, keys = tmp_path / "upstream", tmp_path / "keys"
    build_index(index)
    init_repository(index, keys, PASSPHRASE, **OFFLINE, number_of_bins=16, now=utcnow())
    _publish(index, keys)
    handler = functools.partial(QuietHandler, directory=str(index))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield index, keys, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _publish(index: Path, keys: Path) -> None:
    Publisher(
        index,
        KeyDirectory(
            keys,
            passphrase=lambda _label: PASSPHRASE,
            offline_passphrase=lambda _label: OFFLINE_PASSPHRASE,
        ),
    ).publish()


def _sync(bucket: Bucket, url: str, root: Path, state: Path, *extra: str):
    args = ["mirror", "sync", "--from", url, "--to", bucket.url, "--root", str(root)]
    args += ["--s3-endpoint-url", bucket.server.endpoint, "--state-dir", str(state), *extra]
    return CliRunner().invoke(main, args)


def test_mirror_sync_to_a_bucket(bucket: Bucket, tmp_path: Path, upstream) -> None:
    index, keys, url = upstream
    root = tmp_path / "root.json"
    root.write_bytes((index / "tuf/1.root.json").read_bytes())
    result = _sync(bucket, url, root, tmp_path / "state")
    assert result.exit_code == 0, result.output
    assert f"{bucket.url}: uploaded" in result.output
    objects = bucket.objects()
    # The upstream's signed files, byte for byte; no .gz siblings in the bucket.
    for rel in ("tuf/timestamp.json", "tuf/1.root.json", "tuf/root.json"):
        assert objects[rel] == (index / rel).read_bytes()
    wheels = [rel for rel in objects if rel.startswith("packages/") and rel.endswith(".whl")]
    assert wheels and all(objects[rel] == (index / rel).read_bytes() for rel in wheels)
    assert not [rel for rel in objects if rel.endswith(".gz")]
    assert bucket.head("tuf/timestamp.json")["CacheControl"] == "no-cache"
    copy = next(rel for rel in objects if rel.endswith(".index.html") and "/index." not in rel)
    assert bucket.head(copy)["CacheControl"] == "public, max-age=31536000, immutable"

    # Upstream changes; the next sync uploads only what changed.
    add_release(index, SampleDist("demo-lib", "3.0"))
    _publish(index, keys)
    before = bucket.objects()
    result = _sync(bucket, url, root, tmp_path / "state", "--json")
    assert result.exit_code == 0, result.output
    after = bucket.objects()
    assert replaced(before, after) == REPLACED_BY_DEMO_LIB
    assert json.loads((index / "tuf/timestamp.json").read_bytes()) == json.loads(
        after["tuf/timestamp.json"]
    )

    # A client of the bucket mirror verifies the new release end to end.
    updater = Updater(
        bootstrap=root.read_bytes(),
        metadata_dir=str(tmp_path / "client"),
        metadata_base_url=f"{bucket.http}/tuf/",
        target_base_url=f"{bucket.http}/",
        target_dir=str(tmp_path / "targets"),
    )
    updater.refresh()
    info = updater.get_targetinfo("simple/demo-lib/index.v1_json")
    page = json.loads(Path(updater.download_target(info)).read_bytes())
    wheel = next(f for f in page["files"] if f["filename"].startswith("demo_lib-3.0"))
    link = urllib.parse.urljoin(f"{bucket.http}/simple/demo-lib/", wheel["url"])
    with urllib.request.urlopen(link, timeout=10) as answer:
        data = answer.read()
    assert hashlib.sha256(data).hexdigest() == wheel["hashes"]["sha256"]


def test_mirror_refuses_to_overwrite_a_bucket_object(
    bucket: Bucket, tmp_path: Path, upstream
) -> None:
    index, _keys, url = upstream
    root = tmp_path / "root.json"
    root.write_bytes((index / "tuf/1.root.json").read_bytes())
    bucket.put("tuf/2.snapshot.json", b"someone else's snapshot")
    result = _sync(bucket, url, root, tmp_path / "state")
    assert result.exit_code == 1
    assert f"s3://{bucket.name}/{bucket.key('tuf/2.snapshot.json')}" in result.output
    assert "other bytes" in result.output
    objects = bucket.objects()
    assert objects["tuf/2.snapshot.json"] == b"someone else's snapshot"
    assert "tuf/timestamp.json" not in objects  # nothing reachable was published
