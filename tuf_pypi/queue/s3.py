"""The queue publisher's fenced storage for a repository in an object store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..repository.s3 import S3Storage
from .daemon import FencedStorage

__all__ = ["FencedS3Storage"]


class FencedS3Storage(FencedStorage, S3Storage):
    """:class:`S3Storage` whose every write first passes the publisher lease check.

    The fence is :class:`FencedStorage`'s (its ``before_write``, first in the MRO);
    the writes are :class:`S3Storage`'s: create-only objects and a timestamp swapped
    on its ETag, so a publisher deposed between the check and the write still
    cannot replace its successor's objects.
    """

    def __init__(
        self, *args: Any, check: Callable[[], None], interval: float = 0.25, **kwargs: Any
    ) -> None:
        S3Storage.__init__(self, *args, **kwargs)
        self.check = check
        self.interval = interval
        self._checked = -float("inf")
        self._last_kind = None
