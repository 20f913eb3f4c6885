"""The soak's safety checks and figures, from what the run recorded (pure: no I/O).

Each check returns a :class:`Check`: its name, whether it held, and a detail line that
names the first offending project, version or log line when it did not. The harness
prints them as one table and exits non-zero if any failed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "Check",
    "LogEvent",
    "check_clients",
    "check_leadership",
    "check_load",
    "check_queue_order",
    "check_refusals_counted",
    "check_timestamps",
    "check_updates",
    "parse_publisher_log",
    "percentile",
]

_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) (.*)$")
_WROTE = re.compile(
    r"(?:published \d+ updates of \d+ projects.*?: |re-signed .*?: )timestamp v(\d+)"
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class LogEvent:
    """One line of a publisher's log that matters for leadership: became active, wrote."""

    t: float
    publisher: str
    what: str  # "active" | "wrote" | "stepped-down"
    version: int | None = None
    line: str = ""


def parse_publisher_log(publisher: str, text: str) -> list[LogEvent]:
    """The leadership events of one publisher's log (``%(asctime)s %(levelname)s ...``)."""
    events = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        t = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        message = match.group(3)
        if message.startswith("active: publishing"):
            events.append(LogEvent(t, publisher, "active", line=line))
        elif message.startswith("stepped down"):
            events.append(LogEvent(t, publisher, "stepped-down", line=line))
        elif (wrote := _WROTE.search(message)) and "already signed" not in message:
            events.append(LogEvent(t, publisher, "wrote", int(wrote.group(1)), line))
    return events


def check_leadership(events: Iterable[LogEvent], killed: Mapping[str, float]) -> Check:
    """No publisher wrote a timestamp unless it was the last to become active.

    A publisher loses leadership when another one becomes active (the lock moved), when
    it steps down, or when it is killed (``killed``: publisher -> time). Every write must
    come from the current holder, and no timestamp version may be written twice.
    """
    holder: str | None = None
    versions: dict[int, str] = {}
    ordered = sorted(
        [*events, *(LogEvent(t, p, "killed") for p, t in killed.items())], key=lambda e: e.t
    )
    writes = 0
    for event in ordered:
        if event.what == "active":
            holder = event.publisher
        elif event.what in ("stepped-down", "killed") and holder == event.publisher:
            holder = None
        elif event.what == "wrote":
            writes += 1
            if event.publisher != holder:
                return Check(
                    "no write after losing leadership",
                    False,
                    f"{event.publisher} wrote while {holder or 'nobody'} held the lock: "
                    f"{event.line}",
                )
            if event.version in versions:
                return Check(
                    "no write after losing leadership",
                    False,
                    f"timestamp v{event.version} written by {versions[event.version]} and "
                    f"{event.publisher}",
                )
            versions[event.version] = event.publisher  # type: ignore[index]
    return Check(
        "no write after losing leadership",
        writes > 0,
        f"{writes} timestamps written, each by the publisher holding the lock"
        if writes
        else "no publisher logged a write",
    )


def check_timestamps(
    observed: Sequence[tuple[float, int, str]], whose: str = "repository's"
) -> Check:
    """A timestamp.json as polled: versions only go up, one body each (two bodies of one
    version would mean two writers)."""
    name = f"{whose} timestamp never went back"
    bodies: dict[int, str] = {}
    last = 0
    for _, version, digest in observed:
        if version < last:
            return Check(name, False, f"v{version} after v{last}")
        if bodies.setdefault(version, digest) != digest:
            return Check(name, False, f"two different bodies of v{version}")
        last = version
    return Check(name, bool(bodies), f"{len(bodies)} versions seen, v{last} last")


def newest_updates(uploads: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each project's last successful page upload or deletion, in upload order."""
    newest: dict[str, Mapping[str, Any]] = {}
    for event in uploads:
        if event.get("op") in ("page", "delete"):
            newest[event["project"]] = event
    return newest


def check_updates(
    name: str, uploads: Sequence[Mapping[str, Any]], signed: Mapping[str, str]
) -> Check:
    """Every project's signed pages are the bytes of its newest upload; deletions took."""
    newest = newest_updates(uploads)
    for project, event in sorted(newest.items()):
        html = signed.get(f"simple/{project}/index.html")
        json_page = signed.get(f"simple/{project}/index.v1_json")
        if event["op"] == "delete":
            if html is not None or json_page is not None:
                return Check(
                    name, False, f"{project}: deleted (entry {event['id']}) but still signed"
                )
        elif (html, json_page) != (event["html"], event["json"]):
            return Check(
                name,
                False,
                f"{project}: signed {html} is not its newest upload (entry {event['id']}, "
                f"release 1.{event['seq']}, html {event['html']})",
            )
    deletions = sum(1 for e in newest.values() if e["op"] == "delete")
    return Check(name, bool(newest), f"{len(newest)} projects checked ({deletions} deleted)")


def check_queue_order(records: Sequence[Any], enqueued: Mapping[int, str]) -> Check:
    """Every acknowledged queue entry exists and was settled; each project's in order.

    ``enqueued`` maps each entry id the hook returned to its project.
    """
    name = "queue: all settled, in order"
    pending = [r.id for r in records if r.published_at is None]
    if pending:
        return Check(name, False, f"{len(pending)} entries never published, first id {pending[0]}")
    missing = sorted(set(enqueued) - {r.id for r in records})
    if missing:
        return Check(
            name,
            False,
            f"{len(missing)} acknowledged entries are gone from the queue, first id "
            f"{missing[0]} ({enqueued[missing[0]]})",
        )
    last: dict[str, int] = {}
    for record in sorted(records, key=lambda r: r.id):
        if record.timestamp_version is None:
            continue  # superseded by a newer entry of the same batch
        if record.timestamp_version < last.get(record.project, 0):
            return Check(
                name,
                False,
                f"{record.project}: entry {record.id} signed in timestamp "
                f"v{record.timestamp_version}, after a newer entry's v{last[record.project]}",
            )
        last[record.project] = record.timestamp_version
    return Check(name, True, f"{len(records)} entries settled")


def check_clients(
    clients: Mapping[str, Sequence[Mapping[str, Any]]],
    page_bytes: Mapping[str, set[str]],
    known_files: set[str],
) -> list[Check]:
    """Library clients: only signed bytes, and no trusted state going backwards."""
    signed_name, rollback_name = "clients: only signed bytes", "clients: no rollback"
    pages = files = sessions = 0
    for client, events in clients.items():
        last_ts = 0
        seqs: dict[str, int] = {}
        gone: set[str] = set()
        for event in events:
            kind = event.get("kind")
            if kind == "crash":
                return [Check(signed_name, False, f"{client} crashed: {event['error']}")]
            if kind == "refresh" and event.get("ok"):
                sessions += 1
                after = event.get("after") or 0
                if after < last_ts or after < (event.get("before") or 0):
                    return [
                        Check(
                            rollback_name, False, f"{client}: timestamp v{after} after v{last_ts}"
                        )
                    ]
                last_ts = after
            elif kind == "page" and event.get("listed") is True:
                pages += 1
                project = event["project"]
                if event["sha256"] not in page_bytes.get(project, set()):
                    return [
                        Check(
                            signed_name,
                            False,
                            f"{client}: {project} page {event['sha256']} never uploaded",
                        )
                    ]
                seq = event.get("seq")
                if project in gone or (seq is not None and seq < seqs.get(project, 0)):
                    return [
                        Check(rollback_name, False, f"{client}: {project} went back to 1.{seq}")
                    ]
                if seq is not None:
                    seqs[project] = seq
            elif kind == "page" and event.get("listed") is False and event["project"] in seqs:
                gone.add(event["project"])
            elif kind == "file" and event.get("ok"):
                files += 1
                if event["sha256"] not in known_files:
                    return [
                        Check(
                            signed_name, False, f"{client}: accepted unknown file {event['sha256']}"
                        )
                    ]
    return [
        Check(signed_name, pages > 0, f"{pages} pages, {files} files, all uploaded bytes"),
        Check(rollback_name, sessions > 0, f"{sessions} sessions, trusted versions only went up"),
    ]


def check_load(events: Sequence[Mapping[str, Any]], known_files: set[str]) -> Check:
    """The proxy served only files matching verified pages, and no thread saw a page go back."""
    name = "proxy: only signed bytes, no rollback"
    seqs: dict[tuple[int, str], int] = {}
    served = 0
    for event in events:
        if event.get("status") != 200:
            continue
        served += 1
        if event["kind"] == "page":
            unknown = [s for s in event.get("files", []) if s not in known_files]
            if unknown:
                return Check(
                    name, False, f"page of {event['project']} links unknown file {unknown[0]}"
                )
            key, seq = (event["thread"], event["project"]), event.get("seq")
            if seq is not None:
                if seq < seqs.get(key, 0):
                    return Check(name, False, f"{event['project']}: 1.{seq} after 1.{seqs[key]}")
                seqs[key] = seq
        elif event["kind"] == "file" and event["sha256"] not in known_files:
            return Check(name, False, f"{event.get('name')}: served bytes {event.get('sha256')}")
        elif (
            event["kind"] == "file"
            and event.get("expected")
            and event["sha256"] != event["expected"]
        ):
            return Check(name, False, f"{event.get('name')}: bytes differ from the page's sha256")
    return Check(name, served > 0, f"{served} answers checked")


def check_refusals_counted(
    bad_answers: int,
    samples: Sequence[tuple[str, Mapping[str, str], float]],
    mirror: str,
    per_mirror: bool,
) -> Check:
    """The proxy counted the faulty mirror's failed answers, though failover hid them.

    DESIGN.md §6: every mirror's failure is counted, even when a later mirror
    succeeds. ``bad_answers`` is how many corrupted answers ``mirror`` (its base URL)
    gave the proxy; any kind counts (``tuf_pypi_proxy_mirror_failures_total``): a
    corrupted gzip body fails as a transfer error before any hash is checked. A proxy
    without per-mirror counters (``per_mirror`` False: before they existed) is not
    checked.
    """
    name = "proxy: refused answers counted"
    if not per_mirror:
        return Check(name, True, "not checked: this proxy exports no per-mirror counters")
    counted = sum(
        value
        for n, labels, value in samples
        if n == "tuf_pypi_proxy_mirror_failures_total"
        and labels.get("mirror", "").rstrip("/") == mirror.rstrip("/")
    )
    ok = counted > 0 or bad_answers == 0
    return Check(name, ok, f"{bad_answers} corrupted answers to the proxy, {counted:.0f} counted")


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def count_by(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return dict(sorted(counts.items()))
