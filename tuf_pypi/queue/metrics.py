"""The metrics a queue publisher exports at ``--metrics-port``.

Alert on these (docs/pypi-integration.md has rules): a queue that grows while no
timestamp is written means the active publisher is stuck; no publisher with
``tuf_pypi_publisher_active 1`` means none is publishing at all.
"""

from __future__ import annotations

from ..metrics import Registry
from ..repository.status_metrics import StatusGauges

__all__ = ["LAG_BUCKETS", "PublisherMetrics"]

#: Publish lag is normally around the batch wait; minutes mean trouble.
LAG_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


class PublisherMetrics:
    """Instruments of one publisher process, in one registry."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        r = self.registry
        self.active = r.gauge(
            "tuf_pypi_publisher_active",
            "1 while this publisher holds the publisher lock and publishes, 0 on standby.",
        )
        self.depth = r.gauge("tuf_pypi_queue_depth", "Updates waiting in the queue.")
        self.oldest = r.gauge(
            "tuf_pypi_queue_oldest_pending_seconds",
            "How long the oldest waiting update has waited (0 when none waits).",
        )
        self.lag = r.histogram(
            "tuf_pypi_publish_lag_seconds",
            "Time from enqueueing an update to writing the timestamp that signs it.",
            buckets=LAG_BUCKETS,
        )
        self.last_publish = r.gauge(
            "tuf_pypi_last_publish_timestamp_seconds",
            "When this publisher last wrote timestamp.json, in seconds since the epoch.",
        )
        self.timestamp_version = r.gauge(
            "tuf_pypi_timestamp_version", "Version of the timestamp this publisher last wrote."
        )
        self.batches = r.counter("tuf_pypi_publish_batches_total", "Batches published.")
        self.updates = r.counter(
            "tuf_pypi_published_updates_total", "Queue entries settled by published batches."
        )
        self.batch_seconds = r.histogram(
            "tuf_pypi_publish_batch_seconds",
            "Time to apply and sign one batch.",
            buckets=LAG_BUCKETS,
        )
        self.errors = r.counter(
            "tuf_pypi_publish_errors_total",
            "Failed batches and lost connections to the queue (the batch is retried).",
        )
        self.status = StatusGauges(r)
