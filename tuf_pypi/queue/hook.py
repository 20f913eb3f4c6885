"""The upload hook: what an index's upload path calls to get its new pages signed.

Call it inside the request that changed the project, after rendering the project's
detail pages, with the exact bytes the index will serve::

    from tuf_pypi.queue import enqueue_pages

    enqueue_pages(db_connection, project.name, html=html_bytes, json=json_bytes)
    # ... the index commits its transaction as usual

Given the index's own database connection, the entry is inserted in the index's own
transaction: it exists if and only if the upload commits, and a rolled-back upload
leaves nothing to publish. An index whose database is not the queue's uses an
:class:`UploadQueue` instead, which commits each entry at once. Either way the call
only validates and inserts, and returns at once; the publisher signs later.
"""

from __future__ import annotations

from typing import Any

from .database import QueueDatabase, insert_update, open_queue
from .updates import DEFAULT_MAX_PAGE_BYTES, PageUpdate, deletion, page_update

__all__ = ["UploadQueue", "enqueue_deletion", "enqueue_pages"]


def enqueue_pages(
    connection: Any,
    project: str,
    *,
    html: bytes | None = None,
    json: bytes | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> int:
    """Queue ``project``'s new page bytes in the caller's transaction; returns the entry id.

    ``connection`` is a DB-API connection or cursor (psycopg, psycopg2 or sqlite3)
    to the database holding the queue table. Nothing is committed here. Raises
    :class:`~tuf_pypi.queue.UpdateRejected` for a bad name or page, before any SQL.
    """
    return insert_update(
        connection, page_update(project, html=html, json=json, max_bytes=max_bytes)
    )


def enqueue_deletion(connection: Any, project: str) -> int:
    """Queue the removal of ``project``'s pages in the caller's transaction."""
    return insert_update(connection, deletion(project))


class UploadQueue:
    """A connection of the hook's own to the queue (``postgresql://...`` or ``sqlite:///...``).

    Each call commits its entry before returning. Create one per process (or per
    thread) and reuse it: connecting per upload would cost more than the insert.
    """

    def __init__(self, url: str, *, max_bytes: int = DEFAULT_MAX_PAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._db: QueueDatabase = open_queue(url, application_name="tuf-pypi upload hook")
        self._db.ensure_schema()

    def enqueue_pages(
        self, project: str, *, html: bytes | None = None, json: bytes | None = None
    ) -> int:
        """Validate and commit new page bytes of ``project``; returns the entry id."""
        return self.enqueue(page_update(project, html=html, json=json, max_bytes=self.max_bytes))

    def enqueue_deletion(self, project: str) -> int:
        """Commit the removal of ``project``'s pages; returns the entry id."""
        return self.enqueue(deletion(project))

    def enqueue(self, update: PageUpdate) -> int:
        """Commit an update validated by :func:`page_update` or :func:`deletion`."""
        return self._db.enqueue(update)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> UploadQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
