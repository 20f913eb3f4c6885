"""The verifying proxy's HTTP edge: sockets and threads around the pure :mod:`.app`.

:class:`ProxyServer` serves the simple repository API on loopback (``--index-url
http://127.0.0.1:PORT/simple/`` for pip and uv). It reads the pinned root, opens the
per-refresh clients and the cache, and hands every request to :class:`ProxyApp`, which
decides the answer; the handler here only writes that :class:`Response` (a file body
with ``sendfile``). Kept apart from the application so that what the proxy answers is
testable without sockets, and this code, which is only about connections, stays small.

What this edge refuses on its own:

* connections beyond ``max_connections`` (503, ``Connection: close``): one thread per
  connection, bounded, so a local flood costs a fixed number of threads.
* nothing else: an exception escaping the app is a bug, answered with a 500 (and
  logged with its traceback) rather than a dropped connection.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .. import __version__
from ..client.cache import CacheDir, check_private
from ..client.client import Client, VerifiedPage
from ..client.errors import SetupError
from ..client.health import MirrorHealth
from ..client.limits import Limits
from ..metrics import Registry
from .admission import Admission
from .app import FileBody, ProxyApp, Response, _error, printable
from .cache import CacheBound
from .files import VerifiedFiles
from .request import BadRequest, parse_request_line, read_headers
from .views import IndexView, ViewRotation

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REFRESH_INTERVAL",
    "ProxyServer",
]

#: Seconds one view of the index (one TUF refresh) is served before the next refresh.
DEFAULT_REFRESH_INTERVAL = 300.0
#: Seconds a shutdown waits for requests in progress (a wheel being sent) to finish.
DRAIN_SECONDS = 5.0
#: Connections served at once (one thread each); uv opens up to 50 per run.
DEFAULT_MAX_CONNECTIONS = 128
# File bodies up to this size are read and sent with the head in one write (pread is
# cheaper than sendfile's set-up for .metadata files and small wheels); larger ones
# go by sendfile.
_INLINE_BODY = 256 * 1024

# The logger of the app (:mod:`.app`), which gives it its NullHandler.
_log = logging.getLogger("tuf_pypi.proxy")


class _Handler(BaseHTTPRequestHandler):
    server: ProxyServer
    protocol_version = "HTTP/1.1"  # keep-alive: pip and uv reuse connections
    disable_nagle_algorithm = True
    # An idle keep-alive connection holds a thread; let it go after this many seconds.
    timeout = 60
    server_version = f"tuf-pypi-proxy/{__version__}"

    def version_string(self) -> str:
        return self.server_version  # not the Python version: nobody needs to know it

    def parse_request(self) -> bool:
        """Parse the request head with :mod:`.request`, not the email package (see there).

        Sets what ``http.server`` sets (``command``, ``path``, ``request_version``,
        ``headers``, ``close_connection``); False once a refused head was answered.
        """
        self.command = None  # type: ignore[assignment]  # as http.server: none yet
        self.request_version = self.default_request_version
        self.close_connection = True
        line = self.raw_requestline.rstrip(b"\r\n")
        self.requestline = line.decode("iso-8859-1")
        if not line.strip():
            return False  # an empty line: nothing to answer (http.server does the same)
        try:
            head = parse_request_line(line)
            self.command, self.path, self.request_version = head.command, head.path, head.version
            self.headers = read_headers(self.rfile.readline)  # type: ignore[assignment]
        except BadRequest as exc:
            if self.request_version == self.default_request_version:
                self.request_version = "HTTP/1.0"  # answer with a status line, never 0.9
            self.send_error(exc.status, exc.reason)
            return False
        tokens = {t.strip().lower() for t in (self.headers.get("Connection") or "").split(",")}
        self.close_connection = "close" in tokens or (
            not head.keeps_alive_by_default and "keep-alive" not in tokens
        )
        return True

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        with self.server.busy():
            try:
                with self.server.admission.slot():  # a few at a time: see .admission
                    response = self.server.app.respond(self.path, self.headers)
            except Exception as exc:  # a bug: answer 500 rather than drop the connection
                _log.exception("internal error on %s", printable(self.path))
                response = _error(500, f"internal error in the proxy: {type(exc).__name__}")
            try:
                self._write(response, send_body)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True  # the installer hung up or stalled

    def _write(self, response: Response, send_body: bool) -> None:
        """Send ``response``: the head and a small body in one write, a large file by sendfile.

        The head is built here rather than by ``send_response``/``send_header`` (one
        buffer append and encode per field): on a cold proxy every request is on the
        critical path of an installer's burst, and small answers (pages, ``.metadata``
        files, most wheels) then cost one system call instead of two or more.
        """
        self.log_request(response.status)
        status = response.status
        reason = response.reason
        if reason is None:
            reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}", f"Server: {self.server_version}"]
        lines.append(f"Date: {_http_date(int(time.time()))}")
        lines += [f"{name}: {value}" for name, value in response.headers]
        has_body = status != 304
        if has_body:
            lines.append(f"Content-Length: {response.length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        file = response.file
        if not send_body or not has_body:
            self.wfile.write(head)
        elif file is None:
            self.wfile.write(head + response.body)
        elif file.length <= _INLINE_BODY:
            data = _read_range(file)
            self.wfile.write(head + data)
            if len(data) != file.length:  # the file shrank under us: the length was a lie
                self.close_connection = True
        else:
            self.wfile.write(head)
            with file.path.open("rb") as f:
                sent = self.connection.sendfile(f, file.start, file.length)
            if sent != file.length:
                self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        if _log.isEnabledFor(logging.INFO):  # one line per request: only when asked for
            _log.info("%s %s", self.address_string(), printable(format % args))


_OVER_CAP = (
    b"HTTP/1.1 503 Too many connections to the proxy\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\n%s"
)
# Seconds a refused connection is kept open to read (and discard) the request, so
# that closing it does not reset the connection before the client read the 503.
_REFUSED_LINGER = 2.0


class ProxyServer(ThreadingHTTPServer):
    """The proxy on ``host:port`` (port 0 picks a free one); see :attr:`url`.

    ``mirrors``, ``root`` (pinned root.json bytes or path) and ``cache_dir`` are those
    of :class:`Client`; the cache also keeps verified files under ``proxy/files/``.
    A configuration the client refuses (bad root, mirror URL, unwritable cache) raises
    :class:`SetupError` here, before anything is served. Metadata is refreshed on the
    first request, then every ``refresh_interval`` seconds. ``health`` (one per server
    by default, with its metrics in ``registry``) outlives the per-refresh clients, so a
    mirror found down stays remembered, and :attr:`health` lists every refused answer.
    ``cache_max_size`` (bytes) bounds the cached files and pages (:mod:`.cache`).
    ``admission`` sets how many requests are worked on at once (:mod:`.admission`).

    Run :meth:`serve_forever` (and :meth:`shutdown` from another thread), or
    :meth:`start` for a background thread; :meth:`close` drains and releases it.

    At most ``max_connections`` connections are served at once (one thread each);
    more get a 503 and are closed. ``allowed_hosts`` are the host names accepted in
    ``Host`` headers besides IP literals and ``localhost`` (``*`` for any), for a proxy
    reached by name (behind a reverse proxy, or listening on a LAN address).
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(
        self,
        mirrors: Sequence[str],
        root: bytes | str | os.PathLike[str],
        cache_dir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        limits: Limits | None = None,
        registry: Registry | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        allowed_hosts: Sequence[str] = (),
        health: MirrorHealth | None = None,
        cache_max_size: int | None = None,
        admission: Admission | None = None,
    ) -> None:
        if max_connections < 1:
            raise SetupError(f"max_connections must be at least 1, not {max_connections}")
        self.mirrors = tuple(mirrors)
        #: Sent as ``Via`` on every fetch; a request carrying it came from this proxy.
        self.via = f"1.1 tuf-pypi-proxy-{secrets.token_hex(8)}"
        self.root = root if isinstance(root, bytes) else _read_root(root)
        self.cache_dir = Path(cache_dir)
        self.limits = limits
        self.registry = registry or Registry()
        self.health = health or MirrorHealth(self.mirrors, registry=self.registry)
        first = [self._open_client()]  # checks the configuration now
        files_dir = self.cache_dir / "proxy" / "files"
        for directory in (files_dir.parent, files_dir):
            try:
                directory.mkdir(mode=0o700, exist_ok=True)
                check_private(directory)
            except OSError as exc:
                raise SetupError(f"cache directory {directory} is not usable: {exc}") from exc
        views = ViewRotation(
            lambda: first.pop() if first else self._open_client(),
            refresh_interval,
            on_refresh=lambda failure: self.app.refreshed(failure),
        )
        bound = None
        if cache_max_size is not None:
            pages_dir = CacheDir(self.cache_dir).pages_dir
            bound = CacheBound(files_dir, pages_dir, cache_max_size, registry=self.registry)
        self.app = ProxyApp(
            views,
            VerifiedFiles(files_dir, bound),
            self.registry,
            allowed_hosts=allowed_hosts,
            via=self.via,
        )
        self.max_connections = max_connections
        #: How many requests are worked on at once (:mod:`.admission`).
        self.admission = admission or Admission(registry=self.registry)
        self._refused_connections = self.app.registry.counter(
            "tuf_pypi_proxy_connections_refused_total",
            "Connections refused because --max-connections were open.",
        )
        self._connections = threading.BoundedSemaphore(max_connections)
        # Refused connections linger in threads of their own, bounded too.
        self._refusing = threading.BoundedSemaphore(max_connections)
        self._active = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The index URL to give installers: ``http://host:port/simple/``."""
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/simple/"

    def view(self) -> IndexView:
        """The current view of the index (refreshing it if due)."""
        return self.app.views.current()

    def page(self, project: str) -> VerifiedPage:
        """The verified page of ``project`` in the current view."""
        return self.view().page(project)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count a request in progress, so :meth:`close` can wait for it."""
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def start(self) -> ProxyServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="proxy", daemon=True)
        self._thread.start()
        return self

    def close(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        """Stop serving: let requests in progress finish (up to ``drain_seconds``), release.

        Call after :meth:`serve_forever` returned, or on a server run by :meth:`start`.
        """
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=drain_seconds)
        self.server_close()
        self.app.views.close()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """Serve the connection in a thread of its own if under the cap, else refuse it."""
        if self._connections.acquire(blocking=False):
            try:
                super().process_request(request, client_address)
            except BaseException:
                self._connections.release()
                raise
            return
        self._refused_connections.inc()
        if not self._refusing.acquire(blocking=False):
            self.shutdown_request(request)  # a flood: not even a 503 for this one
            return
        try:
            threading.Thread(target=self._refuse, args=(request,), daemon=True).start()
        except BaseException:
            self._refusing.release()
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 and close, after reading what the client sent (bounded in time)."""
        try:
            body = f"more than {self.max_connections} connections at once; retry\n".encode()
            request.settimeout(_REFUSED_LINGER)
            request.sendall(_OVER_CAP % (len(body), body))
            request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + _REFUSED_LINGER
            while time.monotonic() < deadline and request.recv(65536):
                pass
        except OSError:
            pass
        finally:
            request.close()
            self._refusing.release()
            _log.warning("refused a connection: more than %d at once", self.max_connections)

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # an installer hung up: nothing to report
        _log.exception("error on the connection from %s", client_address)

    def _open_client(self) -> Client:
        return Client(
            self.mirrors,
            self.root,
            self.cache_dir,
            limits=self.limits,
            user_agent=f"tuf-pypi-proxy/{__version__}",
            via=self.via,
            health=self.health,
        )

    def __enter__(self) -> ProxyServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@functools.lru_cache(maxsize=2)
def _http_date(seconds: int) -> str:
    """The ``Date`` header for a Unix time (formatted once per second, not per request)."""
    return email.utils.formatdate(seconds, usegmt=True)


def _read_range(file: FileBody) -> bytes:
    """The bytes of a small file body (fewer if the file shrank since it was verified)."""
    fd = os.open(file.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, file.length, file.start)
    finally:
        os.close(fd)


def _read_root(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SetupError(f"cannot read the pinned root {os.fspath(path)}: {exc}") from exc
