"""A repository's status as Prometheus gauges: how long until each role expires.

Expiry is what takes an index down silently: a timestamp nobody re-signed makes
every client fail a day later. ``tuf-pypi status --prometheus`` (a textfile for
node_exporter) and the publisher's ``/metrics`` export the same gauges, so one alert
rule covers both (e.g. ``tuf_pypi_role_expiry_seconds{role="timestamp"} < 6*3600``).
"""

from __future__ import annotations

from datetime import datetime

from ..metrics import Registry
from .status import StatusReport

__all__ = ["StatusGauges"]


def _role_label(role: str) -> str:
    # "bin-n (first to expire: bin-0a)" -> "bin-n": a label value must stay stable.
    return role.split(" ", 1)[0]


class StatusGauges:
    """The status gauges, registered once in ``registry`` and updated from reports."""

    def __init__(self, registry: Registry) -> None:
        self.seconds_left = registry.gauge(
            "tuf_pypi_role_expiry_seconds",
            "Seconds until the role's signatures expire (bin-n: the first bin to expire).",
            ["role"],
        )
        self.expires = registry.gauge(
            "tuf_pypi_role_expires_timestamp_seconds",
            "When the role's signatures expire, in seconds since the epoch.",
            ["role"],
        )
        self.version = registry.gauge(
            "tuf_pypi_role_version", "Version of the role's current metadata.", ["role"]
        )
        self.targets = registry.gauge("tuf_pypi_page_targets", "Signed page targets.")
        self.bins = registry.gauge("tuf_pypi_bins", "Number of hash bins.")

    def update(self, report: StatusReport, now: datetime) -> None:
        for role in report.roles:
            label = _role_label(role.role)
            self.seconds_left.set((role.expires - now).total_seconds(), role=label)
            self.expires.set(role.expires.timestamp(), role=label)
            self.version.set(role.version, role=label)
        self.targets.set(report.targets)
        self.bins.set(report.number_of_bins)
