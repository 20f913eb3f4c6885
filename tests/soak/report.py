"""The end of a soak run: evaluate the checks on what was recorded, print the table."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from . import checks
from .system import Measured, read_events, signed_pages

if TYPE_CHECKING:
    from .harness import Soak

__all__ = ["evaluate", "print_report", "samples"]

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def evaluate(
    soak: Soak, verify: dict[str, Measured], metrics: dict[str, str]
) -> list[checks.Check]:
    """Every safety check, on the trees as left, the queue table and the recorded events."""
    uploads = read_events(soak.logs / "uploads.jsonl")
    results = []
    for name, tree in (("repository", soak.repo), ("mirror", soak.mirror)):
        try:
            signed = signed_pages(tree)
        except Exception as exc:
            results.append(checks.Check(f"{name}: newest bytes, deletions", False, str(exc)))
            continue
        results.append(checks.check_updates(f"{name}: newest bytes, deletions", uploads, signed))
    records: list[Any] = []
    while batch := soak.query(lambda db: db.records(records[-1].id if records else 0, 10_000)):
        records.extend(batch)
    enqueued = {e["id"]: e["project"] for e in uploads if e.get("op") in ("page", "delete")}
    results.append(checks.check_queue_order(records, enqueued))
    for name, result in verify.items():
        detail = f"exit {result.code}" + (
            "" if result.code == 0 else f": {(result.out + result.err)[-300:]}"
        )
        results.append(checks.Check(f"verify {name}", result.code == 0, detail))
    page_bytes: dict[str, set[str]] = {p: set(s) for p, s in soak.initial_pages.items()}
    for event in uploads:
        if event.get("op") == "page":
            page_bytes.setdefault(event["project"], set()).update((event["html"], event["json"]))
    known_files = soak.initial_files | {e["sha256"] for e in uploads if e.get("op") == "file"}
    clients = {p.stem: read_events(p) for p in sorted(soak.logs.glob("client-*.jsonl"))}
    results.extend(checks.check_clients(clients, page_bytes, known_files))
    results.append(checks.check_load(read_events(soak.logs / "load.jsonl"), known_files))
    log_events = [
        event
        for p in soak.publishers
        for event in checks.parse_publisher_log(p.name, p.log.read_text(errors="replace"))
    ]
    results.append(checks.check_leadership(log_events, soak.record.killed))
    results.append(checks.check_timestamps(soak.record.timestamps))
    for whose, observed in soak.record.watched.items():
        results.append(checks.check_timestamps(observed, whose))
    bad = read_events(soak.logs / "faultproxy.jsonl")
    to_proxy = sum(1 for e in bad if e.get("kind") == "corrupt" and "proxy" in e.get("agent", ""))
    proxy = samples(metrics.get("proxy", ""))
    per_mirror = "tuf_pypi_proxy_mirror_failures_total" in metrics.get("proxy", "")
    results.append(checks.check_refusals_counted(to_proxy, proxy, soak.fault_url, per_mirror))
    clock_ok = all(
        c["sync_code"] != 0 and not c["sync_changed_mirror"] and c["download_code"] != 0
        for c in soak.record.clock
    )
    results.append(
        checks.Check(
            "clock ahead: expired metadata refused",
            clock_ok and bool(soak.record.clock),
            f"{len(soak.record.clock)} runs; "
            + "; ".join(
                f"sync exit {c['sync_code']}, download exit {c['download_code']}"
                for c in soak.record.clock
            ),
        )
    )
    results.append(
        checks.Check(
            "harness saw no problem",
            not soak.record.problems,
            "; ".join(soak.record.problems) or "none",
        )
    )
    return results


def print_report(
    soak: Soak, results: list[checks.Check], metrics: dict[str, str], upload_seconds: float
) -> None:
    """The checks, the figures (see docs/pypi-integration.md) and the faults; report.json."""
    uploads = read_events(soak.logs / "uploads.jsonl")
    enqueued = [e for e in uploads if e.get("op") in ("page", "delete")]
    load = read_events(soak.logs / "load.jsonl")
    clients = [e for p in soak.logs.glob("client-*.jsonl") for e in read_events(p)]
    print("\n== safety checks")
    width = max(len(r.name) for r in results)
    for result in results:
        print(f"  {'PASS' if result.ok else 'FAIL'}  {result.name:<{width}}  {result.detail}")
    p50, p99 = (
        checks.percentile(soak.record.latencies, 50),
        checks.percentile(soak.record.latencies, 99),
    )
    proxy = samples(metrics.get("proxy", ""))
    refusals = {
        f"proxy: {labels.get('kind', '?')}"
        + (f" ({labels['mirror']})" if "mirror" in labels else ""): int(value)
        for name, labels, value in proxy
        if name == "tuf_pypi_proxy_verification_failures_total" and value
    }
    refusals.update(
        checks.count_by(f"client: {e['error_kind']}" for e in clients if e.get("error_kind"))
    )
    answers = checks.count_by(f"HTTP {e['status']}" for e in load)
    bad = read_events(soak.logs / "faultproxy.jsonl")
    forced = checks.count_by(
        f"{e['kind']} to {'proxy' if 'proxy' in e.get('agent', '') else 'library client'}"
        for e in bad
    )
    mirror_metrics = sorted(
        f"{labels.get('mirror', '?')} {labels.get('kind', '?')}: {value:.0f}"
        for name, labels, value in proxy
        if name == "tuf_pypi_proxy_mirror_failures_total"
    )
    freed = checks.count_by([])
    for gc in soak.record.gcs:
        freed[gc["tree"]] = freed.get(gc["tree"], 0) + gc["freed"]
    installs = checks.count_by(
        f"{i['tool']} {'ok' if i['code'] == 0 else 'failed'}" for i in soak.record.installs
    )
    print("\n== figures")
    rows = [
        (
            "uploads enqueued",
            f"{len(enqueued)} in {upload_seconds:.0f} s: "
            f"{len(enqueued) / max(upload_seconds, 1):.2f}/s sustained",
        ),
        ("upload failures retried", str(sum(1 for e in uploads if e.get("op") == "failed"))),
        (
            "upload -> visible on mirror",
            f"p50 {_s(p50)}, p99 {_s(p99)} ({len(soak.record.latencies)} uploads)",
        ),
        (
            "mirror syncs",
            ", ".join(
                f"{k}: {v}"
                for k, v in checks.count_by(f"exit {s['code']}" for s in soak.record.syncs).items()
            ),
        ),
        (
            "client requests served",
            f"proxy load {len(load)} ({', '.join(f'{k}: {v}' for k, v in answers.items())}); "
            f"library pages {sum(1 for e in clients if e.get('listed'))}, "
            f"files {sum(1 for e in clients if e.get('kind') == 'file' and e.get('ok'))}; "
            f"installs {installs}",
        ),
        (
            "failovers forced (faulty mirror answers)",
            ", ".join(f"{k}: {v}" for k, v in forced.items()) or "none",
        ),
        ("proxy's failed attempts per mirror", ", ".join(mirror_metrics) or "none exported"),
        ("refusals by class", ", ".join(f"{k}: {v}" for k, v in refusals.items()) or "none"),
        (
            "publisher takeovers",
            "; ".join(
                f"{t['cause']} {t['from']} -> {t['to']}: lock in {_s(t['takeover_s'])}, "
                f"publishing again in {_s(t['downtime_s'])}"
                for t in soak.record.takeovers
            )
            or "none",
        ),
        (
            "peak RSS",
            ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in sorted(soak.record.rss.items()) if v),
        ),
        (
            "disk used (peak) vs gc'd",
            ", ".join(
                f"{k} {soak.record.disk_peak.get(k, 0) / 1e6:.1f} MB peak, "
                f"{freed.get(t, 0) / 1e6:.1f} MB gc'd"
                for k, t in (("repository", "repo"), ("mirror", "mirror"))
            ),
        ),
    ]
    for name, value in rows:
        print(f"  {name:<38} {value}")
    print("\n== faults injected")
    for fault in sorted(soak.record.faults, key=lambda f: f["at"]):
        print(f"  {fault['at']:7.1f} s  {fault['kind']:<22} {fault.get('detail', '')}")
    failed = [r for r in results if not r.ok]
    print(f"\nsoak: {'FAILED' if failed else 'passed'} (seed {soak.s.seed}); logs in {soak.logs}")
    (soak.work / "report.json").write_text(
        json.dumps(
            {
                "seed": soak.s.seed,
                "ok": not failed,
                "checks": [r.__dict__ for r in results],
                "figures": dict(rows),
                "faults": soak.record.faults,
            },
            indent=2,
        )
    )


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value)."""
    found = []
    for match in _SAMPLE.finditer(text):
        labels = dict(_LABEL.findall(match.group(2) or ""))
        found.append((match.group(1), labels, float(match.group(3))))
    return found


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
