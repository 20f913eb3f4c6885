"""Scale-out publishing: an upload queue in PostgreSQL (or SQLite), one active publisher.

An index's upload path enqueues each project's freshly rendered pages
(:func:`enqueue_pages`, in the index's own transaction); a publisher process
(``tuf-pypi publisher``, :mod:`tuf_pypi.queue.daemon`) drains the queue in batches
and signs each batch with one snapshot and one timestamp. Several publishers may run
on several hosts: one is active, the others stand by and take over if it dies.

Repository side: never imports the client side. Importing this package does not
import the publisher (and so not python-tuf), keeping the upload hook light.
"""

from .batching import BatchLimits
from .database import (
    EntryRecord,
    LeadershipLost,
    QueueDatabase,
    QueueError,
    QueueStats,
    QueueUnavailable,
    open_queue,
    schema_statements,
)
from .hook import UploadQueue, enqueue_deletion, enqueue_pages
from .updates import DEFAULT_MAX_PAGE_BYTES, PageUpdate, UpdateRejected, deletion, page_update

__all__ = [
    "DEFAULT_MAX_PAGE_BYTES",
    "BatchLimits",
    "EntryRecord",
    "LeadershipLost",
    "PageUpdate",
    "QueueDatabase",
    "QueueError",
    "QueueStats",
    "QueueUnavailable",
    "UpdateRejected",
    "UploadQueue",
    "deletion",
    "enqueue_deletion",
    "enqueue_pages",
    "open_queue",
    "page_update",
    "schema_statements",
]
