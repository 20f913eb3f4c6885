"""Prometheus metrics: a few instrument types, the text exposition format, an endpoint.

The publisher exports its queue and expiry gauges here, ``tuf-pypi status
--prometheus`` writes the same format for node_exporter's textfile collector, and the
client proxy can count verification failures with it later. What they need is small
(counters, gauges, histograms with labels; one text format), so this module does it
with the standard library rather than adding a dependency to every installation.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text 0.0.4).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds, from a fast publish to a stuck one.
DEFAULT_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)

_LabelValues = tuple[str, ...]


def _escape(text: str, quote: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v, quote=True)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    """One metric family: a name, help text, label names and a value per label set."""

    kind = "untyped"

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> _LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(
                f"metric {self.name} takes labels {list(self.label_names)}, not {sorted(labels)}"
            )
        return tuple(str(labels[name]) for name in self.label_names)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {_escape(self.documentation, quote=False)}"
        yield f"# TYPE {self.name} {self.kind}"
        with self._lock:
            yield from self._samples()

    def _samples(self) -> Iterable[str]:  # pragma: no cover - overridden
        return ()


class _Scalar(_Metric):
    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labels)
        self._values: dict[_LabelValues, float] = {}

    def _add(self, amount: float, labels: dict[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current value (0 if never set), mostly for tests."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def _samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_format_value(value)}"


class Counter(_Scalar):
    """A count that only goes up (events, errors); Prometheus handles restarts."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"counter {self.name} cannot decrease")
        self._add(amount, labels)


class Gauge(_Scalar):
    """A value that goes up and down (queue depth, seconds until expiry)."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._add(amount, labels)

    def clear(self) -> None:
        """Forget every label set, e.g. before re-exporting a changed set of roles."""
        with self._lock:
            self._values.clear()


class Histogram(_Metric):
    """Observations counted into cumulative buckets, plus their sum and count.

    Quantiles (p50, p99) are computed by Prometheus with ``histogram_quantile``, across
    every publisher, which a per-process summary could not do.
    """

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, documentation, labels)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError(f"histogram {name}: buckets must be increasing and non-empty")
        self.buckets = tuple(float(b) for b in buckets)
        self._counts: dict[_LabelValues, list[int]] = {}
        self._sums: dict[_LabelValues, float] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * (len(self.buckets) + 1))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
                    break
            else:
                counts[-1] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        with self._lock:
            return sum(self._counts.get(self._key(labels), []))

    def _samples(self) -> Iterable[str]:
        for key, counts in sorted(self._counts.items()):
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = f'le="{_format_value(bound)}"'
                yield f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}"
            labels = _labels(self.label_names, key)
            yield f"{self.name}_sum{labels} {_format_value(self._sums[key])}"
            yield f"{self.name}_count{labels} {running}"


class Registry:
    """The metrics of one process (or one textfile), rendered together."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _register(self, metric: _Metric) -> _Metric:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return self._register(Counter(name, documentation, labels))  # type: ignore[return-value]

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return self._register(Gauge(name, documentation, labels))  # type: ignore[return-value]

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, documentation, labels, buckets)
        return self._register(metric)  # type: ignore[return-value]

    def render(self) -> str:
        """Every metric in the text exposition format, ending with a newline."""
        with self._lock:
            metrics = list(self._metrics.values())
        lines = [line for metric in metrics for line in metric.render()]
        return "\n".join(lines) + "\n" if lines else ""


class MetricsServer:
    """A ``/metrics`` endpoint served from a daemon thread; ``close()`` stops it."""

    def __init__(self, registry: Registry, host: str, port: int) -> None:
        registry_ = registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = registry_.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds would drown the publisher's log

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(registry: Registry, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` (port 0 picks a free one)."""
    return MetricsServer(registry, host, port)
