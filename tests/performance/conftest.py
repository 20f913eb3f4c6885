"""Fixtures: signed sample repositories and an ngclient that reads files directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import Updater, UpdaterConfig
from tuf.ngclient.fetcher import FetcherInterface

from tests.repository.conftest import PASSPHRASE, Clock, SignedRepo
from tuf_pypi.repository import init_repository
from tuf_pypi.sample import build_index

__all__ = ["PASSPHRASE", "FileFetcher", "SignedRepo", "updater"]


class FileFetcher(FetcherInterface):
    """Serves ``file-like`` URLs ``http://repo/<path>`` from a directory, counting bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fetched: list[str] = []

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = self.root / urlparse(url).path.lstrip("/")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DownloadHTTPError(f"not found: {url}", 404) from None
        self.fetched.append(url)
        return iter([data])


def updater(repo: Path, cache: Path, fetcher: FileFetcher | None = None) -> Updater:
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "downloads").mkdir(exist_ok=True)
    return Updater(
        metadata_dir=str(cache),
        metadata_base_url="http://repo/tuf/",
        target_base_url="http://repo/",
        target_dir=str(cache / "downloads"),
        config=UpdaterConfig(prefix_targets_with_hash=True),
        fetcher=fetcher or FileFetcher(repo),
        bootstrap=(repo / "tuf" / "1.root.json").read_bytes(),
    )


@pytest.fixture
def clock() -> Clock:
    from datetime import datetime, timezone

    return Clock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def make_repo(tmp_path: Path, clock: Clock) -> Callable[..., SignedRepo]:
    def factory(bins: int = 16, publish: bool = True, name: str = "r") -> SignedRepo:
        repo = tmp_path / name / "repo"
        keys_dir = tmp_path / name / "keys"
        build_index(repo)
        init_repository(repo, keys_dir, PASSPHRASE, number_of_bins=bins, now=clock())
        signed = SignedRepo(repo, keys_dir, clock)
        if publish:
            signed.publisher().publish()
        return signed

    return factory
