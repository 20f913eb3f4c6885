"""--cache-max-size: the cache is filled past its bound, and the least recently used
files go first, then page copies; the trusted metadata never."""

from __future__ import annotations

import os
from pathlib import Path

from tuf_pypi.metrics import Registry
from tuf_pypi.proxy import ProxyServer
from tuf_pypi.proxy.cache import CacheBound
from tuf_pypi.testing.clock import Clock
from tuf_pypi.testing.mirror_server import MirrorServer
from tuf_pypi.testing.signed_index import Index

from .helpers import file_url, request

DAY = 86400


def _file(path: Path, size: int, age: float = 0, now: float = 10 * DAY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age, now - age))
    return path


def test_least_recently_used_files_first_then_pages(tmp_path: Path) -> None:
    clock = Clock(10 * DAY)
    files, pages = tmp_path / "proxy" / "files", tmp_path / "pages"
    metadata = _file(tmp_path / "metadata" / "timestamp.json", 5000, age=9 * DAY)
    page = _file(pages / "simple%2Fa%2Findex.html", 100, age=5 * DAY)
    a = _file(files / ("a" * 64), 400, age=3 * DAY)
    b = _file(files / ("b" * 64), 400, age=2 * DAY)
    registry = Registry()
    bound = CacheBound(files, pages, 1000, grace_seconds=60, clock=clock, registry=registry)
    assert bound.size == 900  # under the bound: nothing deleted
    clock.advance(seconds=120)
    bound.used(a, 400)  # a is now the most recently used
    clock.advance(seconds=120)
    c = _file(files / ("c" * 64), 400)
    bound.used(c, 400)  # 1300 > 1000: b (least recently used) goes, not a
    assert not b.exists()
    assert a.exists() and c.exists() and page.exists()
    clock.advance(seconds=120)
    d = _file(files / ("d" * 64), 700)
    bound.used(d, 700)  # a and c are older than d: both go before the page
    assert not a.exists() and not c.exists() and page.exists() and d.exists()
    clock.advance(seconds=120)
    e = _file(files / ("e" * 64), 950)
    bound.used(e, 950)  # d goes, then still over: the page copy goes too
    assert not d.exists() and not page.exists() and e.exists()
    assert metadata.exists()  # trusted metadata is never counted nor deleted
    assert bound.size == 950
    rendered = registry.render()
    assert 'tuf_pypi_proxy_cache_evictions_total{what="file"} 4.0' in rendered
    assert 'tuf_pypi_proxy_cache_evictions_total{what="page"} 1.0' in rendered


def test_a_file_just_used_is_never_deleted(tmp_path: Path) -> None:
    clock = Clock(10 * DAY)
    files = tmp_path / "files"
    bound = CacheBound(files, tmp_path / "pages", 100, grace_seconds=60, clock=clock)
    big = _file(files / ("f" * 64), 500)
    bound.used(big, 500)
    assert big.exists()  # over the bound, but in use: it stays until the grace is over
    clock.advance(seconds=61)
    bound.prune()
    assert not big.exists()


def test_proxy_fills_its_bounded_cache(
    mirror: MirrorServer, base_index: Index, tmp_path: Path
) -> None:
    """A cache already full of old files: the proxy prunes them to make room, serves and
    verifies what installers ask for, and keeps the trusted metadata."""
    cache = tmp_path / "cache"
    files = cache / "proxy" / "files"
    old = [_file(files / f"{n:064x}", 50_000, age=DAY) for n in range(8)]
    bound = 200_000
    with ProxyServer(
        [mirror.url], base_index.root_bytes, cache, cache_max_size=bound
    ).start() as proxy:
        assert sum(p.exists() for p in old) <= 4  # pruned at start-up, oldest first
        for project in ("demo-core", "demo-lib", "demo-app"):
            answer = request(file_url(proxy, project))
            assert answer.status == 200
            assert answer.body == base_index.wheel(project)[1]
        metrics = request(proxy.url.removesuffix("simple/") + "metrics").body.decode()
    sizes = [p.stat().st_size for p in files.rglob("*") if p.is_file()]
    pages = [p.stat().st_size for p in (cache / "pages").iterdir()]
    assert sum(sizes) + sum(pages) <= bound
    assert (cache / "metadata" / "timestamp.json").exists()
    assert "tuf_pypi_proxy_cache_bytes" in metrics
