"""python-tuf's client reading a repository straight from disk: no server in the timings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

from tuf_pypi.testing import ngclient_updater
from tuf_pypi.testing.signed_repo import targets_of

__all__ = ["FileFetcher", "client_sees_everything", "updater"]


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
    """python-tuf's client reading ``repo`` straight from disk (no server needed)."""
    root = (repo / "tuf" / "1.root.json").read_bytes()
    return ngclient_updater("http://repo", root, cache, fetcher=fetcher or FileFetcher(repo))


def client_sees_everything(repo: Path, cache: Path, *, read_copies: bool = False) -> None:
    """ngclient (cache ``cache``) verifies every page target of ``repo``.

    The bytes checked are the page files, or with ``read_copies`` the consistent
    ``<sha256>.<form>`` copies that clients download.
    """
    client = updater(repo, cache)
    client.refresh()
    for path in targets_of(repo):
        info = client.get_targetinfo(path)
        assert info is not None, path
        if read_copies:
            directory, _, form = path.rpartition("/")
            path = f"{directory}/{info.hashes['sha256']}.{form}"
        info.verify_length_and_hashes((repo / path).read_bytes())
