"""The soak test's load processes: ``python -m tests.soak.workers ROLE CONFIG.json``.

Each runs until SIGTERM and appends what it did, one JSON object a line, to the
``events`` file of its config; the harness reads those files for the final checks.
They run as processes of their own so their CPU and memory are measured apart from
the harness, as a deployment's would be.

- ``uploads``: an index's upload path. Stores a real wheel under ``packages/``, renders
  the project's two pages and enqueues them through the documented hook
  (:class:`tuf_pypi.queue.UploadQueue`); new projects, page changes and deletions at a
  steady rate with bursts. A failed upload (disk full, queue down) is retried with the
  same bytes, as a web worker's retry would, so the newest bytes per project are known.
- ``load``: installer-like HTTP load on the verifying proxy: pages (JSON or HTML) and
  files; records what was served so the harness can check every byte was signed.
- ``client``: :class:`tuf_pypi.client.Client` sessions; records every page version and
  the trusted timestamp version of each session (rollback check).
- ``faultproxy``: a reverse proxy in front of one mirror that passes, hangs or corrupts
  bytes, as the mode file says at each request.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import random
import re
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from tuf_pypi.sample import SampleDist, build_wheel

#: The version numbers a soak page lists: ``1.<sequence>``, one per upload of the project.
_VERSION = re.compile(r"-1\.(\d+)-py3-none-any\.whl")
#: How many releases a page lists (older ones drop off, keeping pages small).
KEEP_RELEASES = 3


class Events:
    """An append-only JSON-lines file, flushed at every line (a killed worker loses none)."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the worker
        self._lock = threading.Lock()

    def write(self, **event: Any) -> None:
        event.setdefault("t", time.time())
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")


def sequence_of(filenames: list[str]) -> int | None:
    """The newest upload sequence a soak page lists (None for other projects' pages)."""
    found = [int(m.group(1)) for name in filenames if (m := _VERSION.search(name))]
    return max(found) if found else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- uploads ---------------------------------------------------------------------------


def render_pages(project: str, releases: list[tuple[str, str, int]]) -> tuple[bytes, bytes]:
    """HTML and JSON pages of ``project`` listing ``releases`` (filename, sha256, size)."""
    links, files = [], []
    for filename, digest, size in releases:
        url = f"../../packages/{digest[:2]}/{digest[2:4]}/{filename}"
        links.append(f'<a href="{url}#sha256={digest}">{filename}</a><br>\n')
        files.append({"filename": filename, "url": url, "hashes": {"sha256": digest}, "size": size})
    html = (
        "<!DOCTYPE html>\n<html><head>"
        '<meta name="pypi:repository-version" content="1.1">'
        f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>\n"
        + "".join(links)
        + "</body></html>\n"
    )
    versions = [filename.split("-")[1] for filename, _, _ in releases]
    page = {"meta": {"api-version": "1.1"}, "name": project, "files": files, "versions": versions}
    return html.encode(), json.dumps(page, sort_keys=True).encode()


class _Uploader:
    """The index side: stores files, renders pages, enqueues them (retrying until it worked)."""

    def __init__(self, config: dict[str, Any], events: Events, stop: threading.Event) -> None:
        self.url = config["db"]
        self.packages = Path(config["repo"]) / "packages"
        self.events, self.stop = events, stop
        self.queue: Any = None
        self.releases: dict[str, list[tuple[str, str, int]]] = {}
        self.sequence: dict[str, int] = {}
        self.scratch = Path(config["scratch"])  # where wheels are built, off the repository
        self.scratch.mkdir(parents=True, exist_ok=True)

    def _store_wheel(self, project: str, number: int) -> tuple[str, str, int]:
        built = build_wheel(SampleDist(project, f"1.{number}"), self.scratch)
        data = built.read_bytes()
        built.unlink()
        digest = sha256(data)
        directory = self.packages / digest[:2] / digest[2:4]
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{built.name}.tmp"
        temporary.write_bytes(data)
        temporary.rename(directory / built.name)
        self.events.write(op="file", sha256=digest, size=len(data), name=built.name)
        return built.name, digest, len(data)

    def _retry(self, what: str, action: Any) -> Any:
        """Run ``action`` until it works (or the worker stops); every failure is recorded."""
        from tuf_pypi.queue import QueueError, UploadQueue

        while not self.stop.is_set():
            try:
                if self.queue is None:
                    self.queue = UploadQueue(self.url)
                return action()
            except (QueueError, OSError) as exc:
                self.events.write(op="failed", what=what, error=str(exc)[:200])
                if isinstance(exc, QueueError) and self.queue is not None:
                    with contextlib.suppress(Exception):  # the connection is gone anyway
                        self.queue.close()
                    self.queue = None
                self.stop.wait(0.5)
        return None

    def upload(self, project: str) -> None:
        number = self.sequence.get(project, 0) + 1
        release = self._retry(f"store {project}", lambda: self._store_wheel(project, number))
        if release is None:
            return
        releases = ([*self.releases.get(project, []), release])[-KEEP_RELEASES:]
        html, json_page = render_pages(project, releases)
        started = time.time()
        entry = self._retry(
            f"enqueue {project}",
            lambda: self.queue.enqueue_pages(project, html=html, json=json_page),
        )
        if entry is None:
            return
        self.releases[project], self.sequence[project] = releases, number
        self.events.write(
            op="page",
            t=started,
            project=project,
            seq=number,
            id=entry,
            html=sha256(html),
            json=sha256(json_page),
        )

    def delete(self, project: str) -> None:
        started = time.time()
        entry = self._retry(f"delete {project}", lambda: self.queue.enqueue_deletion(project))
        if entry is not None:
            self.releases.pop(project, None)
            self.events.write(op="delete", t=started, project=project, id=entry)


def run_uploads(config: dict[str, Any], events: Events, stop: threading.Event) -> None:
    """Steady ``rate`` uploads a second, with a burst of ``burst`` every ~``burst_every`` s."""
    rng = random.Random(config["seed"])
    uploader = _Uploader(config, events, stop)
    live: list[str] = []
    created = 0
    rate, burst, burst_every = config["rate"], config["burst"], config["burst_every"]
    next_burst = time.monotonic() + rng.uniform(0.5, 1.5) * burst_every
    pending_burst = 0
    while not stop.is_set():
        roll = rng.random()
        if len(live) < config["min_projects"] or roll < 0.08:
            created += 1
            project = f"soak-{created}"
            uploader.upload(project)
            live.append(project)
        elif roll < 0.12 and len(live) > config["min_projects"]:
            project = live.pop(rng.randrange(len(live)))
            uploader.delete(project)
        else:
            uploader.upload(rng.choice(live))
        if pending_burst:
            pending_burst -= 1
            continue
        if time.monotonic() >= next_burst:
            pending_burst = burst
            events.write(op="burst", size=burst)
            next_burst = time.monotonic() + rng.uniform(0.5, 1.5) * burst_every
            continue
        stop.wait(rng.expovariate(rate))
    if uploader.queue is not None:
        uploader.queue.close()


# -- installer-like load on the proxy --------------------------------------------------

PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1"


def _projects(path: str) -> list[str]:
    try:
        return Path(path).read_text().split()
    except OSError:
        return []


def _get(host: str, port: int, path: str, accept: str | None, timeout: float) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept": accept} if accept else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _page_links(body: bytes, form: str) -> list[tuple[str, str, str]]:
    """(filename, url, sha256) of each link on a page the proxy served."""
    if form == "json":
        files = json.loads(body)["files"]
        return [(f["filename"], f["url"], f["hashes"].get("sha256", "")) for f in files]
    links = re.findall(rb'<a href="([^"]+)"[^>]*>([^<]+)</a>', body)
    found = []
    for href, name in links:
        url, _, fragment = href.decode().partition("#sha256=")
        found.append((name.decode(), url.replace("&amp;", "&"), fragment))
    return found


def _load_thread(config: dict[str, Any], events: Events, stop: threading.Event, n: int) -> None:
    rng = random.Random(config["seed"] * 1000 + n)
    host, port = config["proxy_host"], config["proxy_port"]
    while not stop.is_set():
        projects = _projects(config["projects"])
        if not projects:
            stop.wait(0.5)
            continue
        project = rng.choice(projects)
        form = rng.choice(("json", "html"))
        accept = PIP_ACCEPT if form == "json" else "text/html"
        started = time.time()
        try:
            status, body = _get(host, port, f"/simple/{project}/", accept, 60)
        except (OSError, http.client.HTTPException) as exc:
            events.write(kind="page", thread=n, project=project, status=0, error=str(exc)[:120])
            stop.wait(0.2)
            continue
        if status != 200:
            events.write(kind="page", thread=n, project=project, status=status, t=started)
            stop.wait(0.05)
            continue
        links = _page_links(body, form)
        events.write(
            kind="page",
            thread=n,
            project=project,
            status=200,
            form=form,
            t=started,
            seq=sequence_of([name for name, _, _ in links]),
            files=[s for _, _, s in links],
        )
        if links and rng.random() < config["file_ratio"]:
            name, url, digest = rng.choice(links)
            path = urlsplit(urljoin(f"/simple/{project}/", url)).path
            try:
                status, data = _get(host, port, path, None, 60)
            except (OSError, http.client.HTTPException) as exc:
                events.write(kind="file", thread=n, status=0, error=str(exc)[:120])
                continue
            events.write(
                kind="file",
                thread=n,
                status=status,
                name=name,
                expected=digest,
                sha256=sha256(data) if status == 200 else None,
            )
        stop.wait(config["pause"])


def run_load(config: dict[str, Any], events: Events, stop: threading.Event) -> None:
    threads = [
        threading.Thread(target=_load_thread, args=(config, events, stop, n), daemon=True)
        for n in range(config["threads"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- library clients -------------------------------------------------------------------


def _trusted_timestamp(cache: Path) -> int | None:
    try:
        return json.loads((cache / "metadata" / "timestamp.json").read_bytes())["signed"]["version"]
    except (OSError, ValueError, KeyError):
        return None


def _client_session(config: dict[str, Any], events: Events, rng: random.Random) -> None:
    from tuf_pypi.client import Client, ClientError, NotListedError

    cache = Path(config["cache"])
    before = _trusted_timestamp(cache)
    with Client(config["mirrors"], config["root"], cache) as client:
        try:
            client.refresh()
        except ClientError as exc:
            events.write(kind="refresh", ok=False, error_kind=_kind(exc), error=str(exc)[:300])
            return
        after = _trusted_timestamp(cache)
        events.write(kind="refresh", ok=True, before=before, after=after)
        for project in rng.sample(_projects(config["projects"]) or ["demo-core"], k=3):
            try:
                page = client.page(project)
            except NotListedError:
                events.write(kind="page", project=project, listed=False, ts=after)
                continue
            except ClientError as exc:
                events.write(
                    kind="page", project=project, error_kind=_kind(exc), error=str(exc)[:300]
                )
                continue
            names = [link.filename for link in page.page.files]
            events.write(
                kind="page",
                project=project,
                listed=True,
                ts=after,
                form=page.form,
                sha256=sha256(page.data),
                seq=sequence_of(names),
            )
            if page.page.files and rng.random() < 0.5:
                link = rng.choice(page.page.files)
                with tempfile.TemporaryDirectory(prefix="soak-dl-") as dest:
                    try:
                        path = client.download(page, link, dest)
                        events.write(kind="file", ok=True, sha256=sha256(path.read_bytes()))
                    except ClientError as exc:
                        events.write(
                            kind="file", ok=False, error_kind=_kind(exc), error=str(exc)[:300]
                        )


def _kind(exc: Exception) -> str:
    failures = getattr(exc, "failures", None)
    if failures:
        kinds = sorted({getattr(getattr(f, "error", None), "kind", "?") for f in failures})
        return "all mirrors failed: " + ",".join(kinds)
    return getattr(exc, "kind", type(exc).__name__)


def run_client(config: dict[str, Any], events: Events, stop: threading.Event) -> None:
    rng = random.Random(config["seed"])
    while not stop.is_set():
        try:
            _client_session(config, events, rng)
        except Exception as exc:
            events.write(kind="crash", error=f"{type(exc).__name__}: {exc}"[:300])
        stop.wait(config["pause"])


# -- the fault-injecting front of a mirror ---------------------------------------------


def run_faultproxy(config: dict[str, Any], events: Events, stop: threading.Event) -> None:
    """Forward GETs to ``upstream``; the mode file says ``pass``, ``hang`` or ``corrupt``."""
    upstream_host, upstream_port = config["upstream_host"], config["upstream_port"]
    mode_file = Path(config["mode"])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _agent(self) -> str:
            return (self.headers.get("User-Agent") or "")[:60]

        def do_GET(self) -> None:
            mode = mode_file.read_text().strip() if mode_file.exists() else "pass"
            if mode == "hang":
                events.write(kind="hang", path=self.path[:200], agent=self._agent())
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not stop.is_set():
                    if mode_file.read_text().strip() != "hang":
                        break
                    time.sleep(0.2)
                self.close_connection = True
                return
            upstream = http.client.HTTPConnection(upstream_host, upstream_port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request("GET", self.path, headers=headers)
                response = upstream.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.send_error(502)
                return
            finally:
                upstream.close()
            if mode == "corrupt" and response.status == 200 and body:
                at = len(body) // 2
                body = body[:at] + bytes([body[at] ^ 0x20]) + body[at + 1 :]
                events.write(kind="corrupt", path=self.path[:200], agent=self._agent())
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that hung up: that is what clients of a hanging mirror do

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(config["port_file"]).write_text(str(server.server_address[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    server.shutdown()


ROLES = {
    "uploads": run_uploads,
    "load": run_load,
    "client": run_client,
    "faultproxy": run_faultproxy,
}


def main(argv: list[str]) -> int:
    role, config_path = argv
    config = json.loads(Path(config_path).read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ROLES[role](config, Events(config["events"]), stop)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
