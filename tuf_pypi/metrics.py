"""Prometheus metrics: the project's instruments on top of ``prometheus_client``.

The publisher exports its queue and expiry gauges, ``tuf-pypi status --prometheus``
writes the same gauges as a textfile for node_exporter, and the verifying proxy
counts requests and refused answers. ``prometheus_client`` (the library every
Python service uses) owns the registry, the text exposition format and the HTTP
endpoint; this module only fixes how the project uses it:

- one :class:`Registry` per process (or textfile), never the library's global
  default one, so tests and several proxies in one process do not collide;
- instruments take their label values as keyword arguments (``inc(kind="tampered")``)
  and refuse a wrong label set with a message naming the metric;
- no ``*_created`` series (one per label set doubles a scrape for nothing).

Metric names are the ones documented in docs/proxy.md and docs/pypi-integration.md;
counters keep their ``_total`` names.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as _PromCounter
from prometheus_client import Gauge as _PromGauge
from prometheus_client import Histogram as _PromHistogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "MetricsServer",
    "Registry",
    "serve",
]

prometheus_client.disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Seconds, from a fast publish to a stuck one.
DEFAULT_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


class _Instrument:
    """One metric family of a :class:`Registry`; label values as keyword arguments."""

    def __init__(self, name: str, metric: Any, label_names: Sequence[str]) -> None:
        self.name = name
        self.label_names = tuple(label_names)
        self._metric = metric
        # Children by label values: prometheus_client's ``labels()`` validates and
        # locks on every call, and the proxy counts several samples per request.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, labels: dict[str, str]) -> Any:
        if not self.label_names and not labels:
            return self._metric
        if len(labels) != len(self.label_names) or not all(n in labels for n in self.label_names):
            raise ValueError(
                f"metric {self.name} takes labels {list(self.label_names)}, not {sorted(labels)}"
            )
        key = tuple(str(labels[name]) for name in self.label_names)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._metric.labels(*key)
        return child

    def _sample(self, suffix: str, labels: dict[str, str]) -> float:
        """A sample's current value (0 if never set), mostly for tests."""
        self._child(labels)  # validates the label names
        wanted = {k: str(v) for k, v in labels.items()}
        for family in self._metric.collect():
            for sample in family.samples:
                if sample.name == self.name + suffix and sample.labels == wanted:
                    return float(sample.value)
        return 0.0


class Counter(_Instrument):
    """A count that only goes up (events, errors); Prometheus handles restarts."""

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name} cannot decrease")
        self._child(labels).inc(amount)

    def value(self, **labels: str) -> float:
        return self._sample("", labels)


class Gauge(_Instrument):
    """A value that goes up and down (queue depth, seconds until expiry)."""

    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)

    def value(self, **labels: str) -> float:
        return self._sample("", labels)

    def clear(self) -> None:
        """Forget every label set, e.g. before re-exporting a changed set of roles."""
        if self.label_names:
            self._children.clear()
            self._metric.clear()
        else:
            self._metric.set(0)


class Histogram(_Instrument):
    """Observations counted into cumulative buckets, plus their sum and count.

    Quantiles (p50, p99) are computed by Prometheus with ``histogram_quantile``,
    across every publisher, which a per-process summary could not do.
    """

    def observe(self, value: float, **labels: str) -> None:
        self._child(labels).observe(value)

    def count(self, **labels: str) -> int:
        return int(self._sample("_count", labels))


class Registry:
    """The metrics of one process (or one textfile), rendered together."""

    def __init__(self) -> None:
        self.collectors = CollectorRegistry(auto_describe=True)
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def _claim(self, name: str) -> None:
        with self._lock:
            if name in self._names:
                raise ValueError(f"metric {name} is already registered")
            self._names.add(name)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        self._claim(name)
        metric = _PromCounter(name, documentation, labels, registry=self.collectors)
        # prometheus_client names a counter's sample <name>_total whatever it was given.
        return Counter(name if name.endswith("_total") else name + "_total", metric, labels)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        self._claim(name)
        return Gauge(
            name, _PromGauge(name, documentation, labels, registry=self.collectors), labels
        )

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        if not buckets or list(buckets) != sorted(set(buckets)):
            raise ValueError(f"histogram {name}: buckets must be increasing and non-empty")
        self._claim(name)
        metric = _PromHistogram(
            name, documentation, labels, registry=self.collectors, buckets=tuple(buckets)
        )
        return Histogram(name, metric, labels)

    def render(self) -> str:
        """Every metric in the text exposition format (version 0.0.4)."""
        return generate_latest(self.collectors).decode()


class MetricsServer:
    """A ``/metrics`` endpoint served from a daemon thread; ``close()`` stops it."""

    def __init__(self, registry: Registry, host: str, port: int) -> None:
        self._server, self._thread = prometheus_client.start_http_server(
            port, addr=host, registry=registry.collectors
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(registry: Registry, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` (port 0 picks a free one)."""
    return MetricsServer(registry, host, port)
