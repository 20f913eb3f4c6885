"""tuf_pypi.metrics: the Prometheus text format, the endpoint, and status --prometheus."""

from __future__ import annotations

import re
import urllib.request

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from tuf_pypi.cli import main
from tuf_pypi.metrics import Registry, serve


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, parsed by prometheus_client's own text parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_text_format_of_each_instrument() -> None:
    registry = Registry()
    counter = registry.counter("jobs_total", "Jobs done.")
    gauge = registry.gauge("expiry_seconds", 'Seconds left\n("quoted").', ["role"])
    histogram = registry.histogram("lag_seconds", "Lag.", buckets=(1, 5))
    counter.inc()
    counter.inc(2)
    gauge.set(-3.5, role='bin-n "x"\\')
    gauge.set(86400, role="timestamp")
    for value in (0.5, 2, 10):
        histogram.observe(value)
    text = registry.render()
    assert "# TYPE jobs_total counter\n" in text
    assert '# HELP expiry_seconds Seconds left\\n("quoted").\n' in text
    assert "_created" not in text
    assert _samples(text) == {
        ("jobs_total", ()): 3,
        ("expiry_seconds", (("role", 'bin-n "x"\\'),)): -3.5,
        ("expiry_seconds", (("role", "timestamp"),)): 86400,
        ("lag_seconds_bucket", (("le", "1.0"),)): 1,
        ("lag_seconds_bucket", (("le", "5.0"),)): 2,
        ("lag_seconds_bucket", (("le", "+Inf"),)): 3,
        ("lag_seconds_sum", ()): 12.5,
        ("lag_seconds_count", ()): 3,
    }
    assert counter.value() == 3 and histogram.count() == 3
    assert gauge.value(role="timestamp") == 86400 and gauge.value(role="other") == 0


def test_misuse_is_refused() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "C.")
    gauge = registry.gauge("g", "G.", ["role"])
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("c_total", "again")
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1)
    with pytest.raises(ValueError, match=r"takes labels \['role'\]"):
        gauge.set(1)
    with pytest.raises(ValueError, match="increasing"):
        registry.histogram("h", "H.", buckets=(5, 1))
    assert _samples(Registry().render()) == {}


def test_endpoint_serves_the_registry() -> None:
    registry = Registry()
    registry.gauge("up", "Up.").set(1)
    server = serve(registry, 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            assert _samples(response.read().decode()) == {("up", ()): 1}
    finally:
        server.close()


def test_status_prometheus_is_a_textfile_for_node_exporter(make_repo) -> None:
    signed = make_repo()
    result = CliRunner().invoke(main, ["status", "--repo", str(signed.repo), "--prometheus"])
    assert result.exit_code == 0, result.output
    text = result.output
    for role in ("root", "targets", "bins", "bin-n", "snapshot", "timestamp"):
        match = re.search(rf'^tuf_pypi_role_expiry_seconds{{role="{role}"}} (\S+)$', text, re.M)
        assert match and float(match.group(1)) > 0, role
    assert re.search(r"^tuf_pypi_page_targets \d+(\.0)?$", text, re.M)
    assert "# TYPE tuf_pypi_role_expires_timestamp_seconds gauge" in text


def test_status_prometheus_exits_0_even_when_roles_expired(make_repo, monkeypatch) -> None:
    """The cron job must keep writing the file exactly when alerts matter."""
    signed = make_repo()
    signed.clock.advance(days=30)
    monkeypatch.setattr("tuf_pypi.commands.repository.utcnow", signed.clock)
    args = ["status", "--repo", str(signed.repo)]
    assert CliRunner().invoke(main, args).exit_code == 4
    result = CliRunner().invoke(main, [*args, "--prometheus"])
    assert result.exit_code == 0
    line = re.search(
        r'^tuf_pypi_role_expiry_seconds\{role="timestamp"\} (\S+)$', result.output, re.M
    )
    assert line and float(line.group(1)) < 0
