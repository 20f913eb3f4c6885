"""The object store options every ``--repo`` command shares, and the storage they open.

The options are kept out of each command's signature (``expose_value=False``):
their values go to the click context, and :func:`open_storage` reads them when a
command opens its repository, so a command gains S3 support by calling
``open_storage(repo)`` instead of ``RepositoryStorage(repo)``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..objectstore import DEFAULT_PARALLEL, ObjectStore, ObjectStoreURL
from ..repository import RepositoryStorage
from ..repository.s3 import S3Storage

__all__ = ["default_work_dir", "local_tree", "open_storage", "s3_options"]

F = TypeVar("F", bound=Callable[..., Any])
_META = "tuf_pypi.s3"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_META, {})[param.name] = value
    return value


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*names, expose_value=False, callback=_remember, **kwargs)


def s3_options(func: F) -> F:
    """The options of a repository in an object store (ignored for a directory)."""
    for option in reversed(
        [
            _option(
                "--s3-endpoint-url",
                "endpoint_url",
                metavar="URL",
                envvar="TUF_PYPI_S3_ENDPOINT_URL",
                help="With an s3:// --repo: the S3 API endpoint (MinIO, Ceph, R2, a "
                "loopback test server); default: AWS for the configured region. "
                "[env TUF_PYPI_S3_ENDPOINT_URL]",
            ),
            _option(
                "--s3-pages",
                "pages",
                type=click.Path(file_okay=False, path_type=Path),
                help="With an s3:// --repo: read the pages from this local index root "
                "(its simple/) and upload them with their copies. Default: the pages "
                "are in the bucket (written there by another tool).",
            ),
            _option(
                "--s3-work-dir",
                "work_dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="With an s3:// --repo: local copy of the bucket's metadata (and "
                "pages) that the publisher reads. Default: "
                "$XDG_CACHE_HOME/tuf-pypi/s3/BUCKET/PREFIX.",
            ),
            _option(
                "--s3-parallel",
                "parallel",
                type=click.IntRange(1, 256),
                default=DEFAULT_PARALLEL,
                show_default=True,
                help="With an s3:// --repo: uploads in flight at once.",
            ),
            _option(
                "--s3-no-confirm",
                "no_confirm",
                is_flag=True,
                help="With an s3:// --repo: count an object written when its PUT "
                "succeeds, without reading it back (stores with read-after-write "
                "consistency, such as AWS S3).",
            ),
            _option(
                "--cdn-purge-command",
                "purge_command",
                metavar="COMMAND",
                help="With an s3:// --repo: run COMMAND after each timestamp write, "
                "with the changed object keys on stdin (one a line) and "
                "TUF_PYPI_BUCKET/TUF_PYPI_PREFIX in its environment.",
            ),
        ]
    ):
        func = option(func)
    return func


def default_work_dir(url: ObjectStoreURL) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tuf-pypi" / "s3" / url.bucket / (url.prefix or "_")


def _settings() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get(_META, {})) if ctx is not None else {}


def local_tree(url: ObjectStoreURL) -> Path | None:
    """The local index tree an s3:// repository reads its pages from (``--s3-pages``)."""
    return _settings().get("pages")


def open_storage(repo: Path | ObjectStoreURL, *, copies: bool = False) -> RepositoryStorage:
    """The storage of ``repo``: a directory, or a bucket pulled into its work tree.

    ``copies``: pull every page copy too (verify and gc read them).
    """
    if not isinstance(repo, ObjectStoreURL):
        return RepositoryStorage(repo)
    return S3Storage.open(**s3_settings(repo), copies=copies)


def s3_settings(url: ObjectStoreURL) -> dict[str, Any]:
    """Keyword arguments of :meth:`S3Storage.open` from the command's options."""
    given = _settings()
    store = ObjectStore(
        url,
        endpoint_url=given.get("endpoint_url"),
        parallel=given.get("parallel") or DEFAULT_PARALLEL,
        confirm=not given.get("no_confirm"),
    )
    pages = given.get("pages")
    command = given.get("purge_command")
    return {
        "store": store,
        "work": pages or given.get("work_dir") or default_work_dir(url),
        "pages_in_bucket": pages is None,
        "purge_command": shlex.split(command) if command else None,
    }


def open_fenced_storage(
    repo: Path | ObjectStoreURL,
) -> Callable[[Callable[[], None]], RepositoryStorage] | None:
    """For the queue publisher: how to make its fenced storage (None: a directory's)."""
    if not isinstance(repo, ObjectStoreURL):
        return None
    settings = s3_settings(repo)

    def make(check: Callable[[], None]) -> RepositoryStorage:
        from ..queue.s3 import FencedS3Storage

        return FencedS3Storage.open(**settings, check=check)

    return make
