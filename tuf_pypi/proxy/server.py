"""The verifying proxy: a simple repository API on loopback, built only from verified data.

Unmodified pip and uv know nothing of TUF. Pointed at this proxy (``--index-url
http://127.0.0.1:PORT/simple/``), they get:

* project pages that verified through TUF from a pinned root (DESIGN.md §6), in the
  form they ask for (PEP 691 negotiation, :mod:`.negotiation`), with every file
  link pointing back at the proxy (:mod:`.pages`);
* files and PEP 658 ``.metadata`` files only once their bytes matched the verified
  page (:mod:`.files`), with HEAD and Range support (:mod:`.ranges`);
* on any failure, an error status with a one-line reason, never unverified bytes.
  pip prints the HTTP reason phrase, so the reason goes there as well as in the body.

Statuses: 404 for what the signed metadata does not list; 406 for an Accept header no
page form satisfies; 503 when no mirror could be reached at all (pip and uv retry it);
and :data:`REFUSED` (424 Failed Dependency: the answer depended on verified data from a
mirror, and verification failed) when mirrors answered with data that failed
verification, or the index signed a page that cannot be used. Not 502, though it is the
textbook status: recent pip (26.x; not 23.x) and uv retry every 502 with back-off (8 to
10 s, pointlessly: the proxy already tried every mirror), and pip then reports "too many
502 error responses" instead of the reason; and not 403, which uv takes for "not found,
check credentials" on an index page. Both show a 424's reason at once, on pages (uv; pip
logs page errors only at debug level) and files (both).

:class:`ProxyApp` turns a request into a :class:`Response` (no sockets); the HTTP
handler only writes it, so the logic is testable and the socket code stays small.

What the proxy refuses before looking at the path:

* a ``Host`` header naming a host it does not serve (403). A web page can make a
  browser send requests to 127.0.0.1 through a DNS name of its own that it re-points
  there (DNS rebinding); the browser then sends that name as ``Host``. IP literals and
  ``localhost`` are always served (no page can rebind them), other names only when
  allowed (``--allow-host``).
* a request carrying the proxy's own ``Via`` token (508 Loop Detected): one of its own
  fetches came back to it, through a mirror list or a link naming the proxy itself.
* connections beyond ``max_connections`` (503, ``Connection: close``): one thread per
  connection, bounded, so a local flood costs a fixed number of threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from .. import __version__
from ..client.cache import CacheDir, check_private
from ..client.client import Client, VerifiedPage
from ..client.errors import (
    AllMirrorsFailedError,
    ClientError,
    MirrorError,
    NotListedError,
    SetupError,
)
from ..client.health import MirrorHealth
from ..client.limits import Limits
from ..metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..metrics import Registry
from .cache import CacheBound
from .files import VerifiedFiles
from .negotiation import REPRESENTATIONS, Representation, negotiate
from .pages import (
    find_offered,
    render_html,
    render_json,
    render_root_html,
    render_root_json,
)
from .ranges import RangeNotSatisfiableError, parse_range
from .routes import (
    FileRoute,
    MetricsRoute,
    NotFound,
    PageRoute,
    Redirect,
    RootRoute,
    route,
)
from .views import IndexView, ViewRotation

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_REFRESH_INTERVAL",
    "REFUSED",
    "FileBody",
    "ProxyApp",
    "ProxyServer",
    "Response",
    "describe_failure",
]

#: Seconds one view of the index (one TUF refresh) is served before the next refresh.
DEFAULT_REFRESH_INTERVAL = 300.0
#: The status of an answer refused because verification failed (see the module docstring).
REFUSED = 424
#: Pages may be cached this long at most (PyPI's value), and never past the next refresh.
PAGE_MAX_AGE = 600
#: File URLs name the file's sha256, so their bytes never change (PyPI sends the same).
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"
#: Seconds a shutdown waits for requests in progress (a wheel being sent) to finish.
DRAIN_SECONDS = 5.0
#: Connections served at once (one thread each); uv opens up to 50 per run.
DEFAULT_MAX_CONNECTIONS = 128
#: Host names always served: no web page can make a browser send them for its own name.
_LOCAL_NAMES = frozenset({"localhost", "localhost."})
# A Host header: a name or IPv4 address, or a bracketed IPv6 address, and a port.
_HOST_HEADER = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^\[\]:]*)(?::[0-9]*)?", re.ASCII)
# Control characters (C0, DEL, C1): written to a log as \xNN escapes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_log = logging.getLogger("tuf_pypi.proxy")
# Warnings reach the log only where the application configured logging (the CLI does).
_log.addHandler(logging.NullHandler())
_SUPPORTED = ", ".join(r.media_type for r in REPRESENTATIONS)
# pip shows the reason phrase; keep it one readable line of a sane length.
_REASON_MAX = 500
_NO_STORE = ("Cache-Control", "no-store")
_TEXT = ("Content-Type", "text/plain; charset=utf-8")


class Headers(Protocol):
    """Request headers (``http.client.HTTPMessage`` or a dict): a case-insensitive get."""

    def get(self, name: str, default: None = None) -> str | None: ...


@dataclass(frozen=True)
class FileBody:
    """``length`` bytes of ``path`` from ``start``: the body of a file answer."""

    path: Path
    start: int
    length: int


@dataclass
class Response:
    """What to answer: status, reason phrase, headers, and a body of bytes or from a file."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: FileBody | None = None
    reason: str | None = None

    @property
    def length(self) -> int:
        return self.file.length if self.file is not None else len(self.body)


def describe_failure(exc: ClientError) -> tuple[int, str]:
    """The HTTP status and one-line reason for an error of the client library."""
    if isinstance(exc, NotListedError):
        return 404, str(exc)
    if isinstance(exc, SetupError):
        return 500, f"proxy misconfigured: {exc}"
    if isinstance(exc, AllMirrorsFailedError):
        errors: Sequence[MirrorError] = exc.errors
    elif isinstance(exc, MirrorError):
        errors = (exc,)
    else:  # the index signed something unusable: a page that breaks the spec, no hash
        return REFUSED, f"refused by TUF verification: {exc}"
    if any(error.attack for error in errors):
        return REFUSED, f"TUF verification failed: {exc}"
    return 503, f"no mirror could be reached: {exc}"


class ProxyApp:
    """Requests to responses, from the current view of the index. Thread-safe."""

    def __init__(
        self,
        views: ViewRotation,
        files: VerifiedFiles,
        registry: Registry | None = None,
        *,
        allowed_hosts: Sequence[str] = (),
        via: str | None = None,
    ) -> None:
        self.views = views
        self.files = files
        #: Host names served besides IP literals and localhost; ``*`` allows any.
        self.allowed_hosts = frozenset(name.lower().rstrip(".") for name in allowed_hosts)
        #: The ``Via`` token this proxy's own fetches carry (see :class:`ProxyServer`).
        self.via = via
        self.page_max_age = int(min(PAGE_MAX_AGE, views.interval))
        self.registry = registry or Registry()
        self._requests = self.registry.counter(
            "tuf_pypi_proxy_requests_total",
            "Requests answered, by route and status.",
            ["route", "status"],
        )
        self._refreshes = self.registry.counter(
            "tuf_pypi_proxy_refreshes_total", "TUF metadata refreshes, by result.", ["result"]
        )

    def refreshed(self, failure: ClientError | None) -> None:
        """Told of every refresh (see :class:`ViewRotation`): count it, log a failure.

        Each mirror's failure was logged and counted as it happened (:mod:`.health`).
        """
        self._refreshes.inc(result="ok" if failure is None else "failed")
        if failure is not None:
            _log.warning("refresh failed: %s", printable(describe_failure(failure)[1]))

    def respond(self, target: str, headers: Headers) -> Response:
        """The answer to ``GET target`` (HEAD is the same, without the body)."""
        refusal = self._refusal(headers)
        if refusal is not None:
            self._requests.inc(route="refused", status=str(refusal.status))
            return refusal
        where = route(target)
        if isinstance(where, PageRoute):
            label, response = "page", self._page(where.project, headers)
        elif isinstance(where, FileRoute):
            label, response = "file", self._file(where, headers)
        elif isinstance(where, Redirect):
            label, response = "redirect", _redirect(where.location)
        elif isinstance(where, RootRoute):
            label, response = "root", self._root(headers)
        elif isinstance(where, MetricsRoute):
            label, response = "metrics", self._metrics()
        else:
            assert isinstance(where, NotFound)
            label, response = "other", _error(404, where.reason)
        self._requests.inc(route=label, status=str(response.status))
        return response

    def _refusal(self, headers: Headers) -> Response | None:
        """The answer to a request refused whatever its path (see the module docstring)."""
        via = headers.get("Via")
        if self.via is not None and via is not None and self.via in via:
            reason = (
                "loop detected: this request came from this proxy itself; a mirror URL or "
                "a file link of the index names the proxy's own address"
            )
            _log.warning("refused a request from this proxy itself (Via: %s)", printable(via))
            return _error(508, reason)
        host = headers.get("Host")
        if host is not None and not self.serves_host(host):
            _log.warning("refused a request for Host %s", printable(host))
            return _error(
                403,
                f"this proxy does not serve the host name in Host: {host!r} (a web page "
                "using a DNS name of its own?); allow it with --allow-host if it is yours",
            )
        return None

    def serves_host(self, host_header: str) -> bool:
        """True when the ``Host`` header names an IP literal, localhost or an allowed name."""
        match = _HOST_HEADER.fullmatch(host_header.strip())
        if match is None:
            return False
        name = match.group(1).removeprefix("[").removesuffix("]").lower()
        if not name:
            return False
        if name in _LOCAL_NAMES or "*" in self.allowed_hosts:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name.rstrip(".") in self.allowed_hosts
        return True

    def _metrics(self) -> Response:
        headers = [("Content-Type", METRICS_CONTENT_TYPE), _NO_STORE]
        return Response(200, headers, self.registry.render().encode())

    # -- pages -----------------------------------------------------------------------

    def _page(self, project: str, headers: Headers) -> Response:
        accept = headers.get("Accept")
        representation = negotiate(accept)
        vary = ("Vary", "Accept")
        if representation is None:
            reason = f"no page form matches Accept: {accept}; this index serves {_SUPPORTED}"
            return _error(406, reason, [vary])
        try:
            view = self.views.current()
        except ClientError as exc:
            return self._failure(exc, f"page of {project}", [vary], counted=True)
        try:
            body = view.rendered(project, representation.form, _renderer(project, representation))
        except ClientError as exc:
            return self._failure(exc, f"page of {project}", [vary])
        return self._cacheable(
            headers,
            body,
            [("Content-Type", representation.content_type), vary],
            f"max-age={self.page_max_age}, public",
        )

    def _root(self, headers: Headers) -> Response:
        representation = negotiate(headers.get("Accept"))
        vary = ("Vary", "Accept")
        if representation is None:
            return _error(406, f"this index serves {_SUPPORTED}", [vary])
        body = render_root_json() if representation.form == "json" else render_root_html()
        content = [("Content-Type", representation.content_type), vary]
        return self._cacheable(headers, body, content, f"max-age={self.page_max_age}, public")

    def _cacheable(
        self, headers: Headers, body: bytes, content: list[tuple[str, str]], cache: str
    ) -> Response:
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        common = [*content, ("Cache-Control", cache), ("ETag", etag)]
        if _matches(headers.get("If-None-Match"), etag):
            return Response(304, common)
        return Response(200, common, body)

    # -- files -----------------------------------------------------------------------

    def _file(self, where: FileRoute, headers: Headers) -> Response:
        try:
            view = self.views.current()
        except ClientError as exc:
            return self._failure(exc, f"page of {where.project}", counted=True)
        try:
            page = view.page(where.project)
        except ClientError as exc:
            return self._failure(exc, f"page of {where.project}")
        offered = find_offered(page.page, where.sha256, where.filename)
        if offered is None:
            return _error(
                404,
                f"{page.target_path} (verified) offers no {where.filename!r} with sha256 "
                f"{where.sha256}; reload the project page",
            )
        try:
            verified = self.files.get(view.client, page, offered)
        except ClientError as exc:
            return self._failure(exc, offered.filename)
        etag = f'"{verified.sha256}"'
        common = [
            ("Content-Type", "application/octet-stream"),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", FILE_CACHE_CONTROL),
            ("ETag", etag),
        ]
        if _matches(headers.get("If-None-Match"), etag):
            return Response(304, common)
        if_range = headers.get("If-Range")
        range_header = headers.get("Range") if if_range in (None, etag) else None
        try:
            wanted = parse_range(range_header, verified.size)
        except RangeNotSatisfiableError as exc:
            return _error(416, str(exc), [("Content-Range", exc.content_range)])
        if wanted is None:
            return Response(200, common, file=FileBody(verified.path, 0, verified.size))
        body = FileBody(verified.path, wanted.start, wanted.length)
        return Response(206, [*common, ("Content-Range", wanted.content_range)], file=body)

    # -- failures --------------------------------------------------------------------

    def _failure(
        self,
        exc: ClientError,
        what: str,
        extra: Sequence[tuple[str, str]] = (),
        *,
        counted: bool = False,
    ) -> Response:
        """The error answer for ``exc``; logged unless ``counted`` already.

        A failed refresh is answered for every request until the next try, but it was
        one event: :meth:`refreshed` logged it. Each mirror's failure was logged and
        counted where it happened (:mod:`.health`), even if another mirror then succeeded.
        """
        status, line = describe_failure(exc)
        if status != 404 and not counted:
            _log.warning("refused %s: %s", printable(what), printable(line))
        return _error(status, line, extra)


def _renderer(project: str, representation: Representation) -> Callable[[VerifiedPage], bytes]:
    if representation.form == "json":
        return lambda page: render_json(project, page.page, page.data)
    return lambda page: render_html(project, page.page)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def printable(text: str) -> str:
    """``text`` with every control character as a ``\\xNN`` escape: safe for one log line.

    Request lines and headers come from local clients, which could otherwise write
    terminal escapes or forged log lines (a newline, a carriage return) into the log.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _redirect(location: str) -> Response:
    body = f"moved to {location}\n".encode()
    headers = [("Location", location), _TEXT, ("Cache-Control", f"max-age={PAGE_MAX_AGE}")]
    return Response(301, headers, body)


def _error(status: int, line: str, extra: Sequence[tuple[str, str]] = ()) -> Response:
    line = " ".join(line.split())  # one line, whatever the message held
    return Response(status, [_TEXT, _NO_STORE, *extra], f"{line}\n".encode(), reason=_reason(line))


def _reason(line: str) -> str:
    """A reason phrase: printable ASCII (it is sent as Latin-1), one line, bounded."""
    text = "".join(c if " " <= c <= "~" else "?" for c in line)
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


# -- HTTP ----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: ProxyServer
    protocol_version = "HTTP/1.1"  # keep-alive: pip and uv reuse connections
    disable_nagle_algorithm = True
    # An idle keep-alive connection holds a thread; let it go after this many seconds.
    timeout = 60
    server_version = f"tuf-pypi-proxy/{__version__}"

    def version_string(self) -> str:
        return self.server_version  # not the Python version: nobody needs to know it

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        with self.server.busy():
            try:
                response = self.server.app.respond(self.path, self.headers)
            except Exception as exc:  # a bug: answer 500 rather than drop the connection
                _log.exception("internal error on %s", printable(self.path))
                response = _error(500, f"internal error in the proxy: {type(exc).__name__}")
            try:
                self._write(response, send_body)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                self.close_connection = True  # the installer hung up or stalled

    def _write(self, response: Response, send_body: bool) -> None:
        self.send_response(response.status, response.reason)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status != 304:
            self.send_header("Content-Length", str(response.length))
        self.end_headers()
        if not send_body or response.status == 304:
            return
        if response.file is None:
            self.wfile.write(response.body)
            return
        with response.file.path.open("rb") as f:
            sent = self.connection.sendfile(f, response.file.start, response.file.length)
        if sent != response.file.length:  # the file shrank under us: the length was a lie
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
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


def _read_root(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SetupError(f"cannot read the pinned root {os.fspath(path)}: {exc}") from exc
