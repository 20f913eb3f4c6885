"""The verifying proxy's application: a request in, a :class:`Response` out, no sockets.

Unmodified pip and uv know nothing of TUF. Pointed at the proxy (``--index-url
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

:class:`ProxyApp` turns a request into a :class:`Response`; the HTTP edge
(:mod:`.server`) only writes it. It is apart from the sockets so that what the proxy
answers is testable without them, and the socket code stays small.

What the app refuses before looking at the path:

* a ``Host`` header naming a host it does not serve (403). A web page can make a
  browser send requests to 127.0.0.1 through a DNS name of its own that it re-points
  there (DNS rebinding); the browser then sends that name as ``Host``. IP literals and
  ``localhost`` are always served (no page can rebind them), other names only when
  allowed (``--allow-host``).
* a request carrying the proxy's own ``Via`` token (508 Loop Detected): one of its own
  fetches came back to it, through a mirror list or a link naming the proxy itself.

(Connections beyond the server's cap are refused before any request is read:
:mod:`.server`.)
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..client.client import VerifiedPage
from ..client.errors import (
    AllMirrorsFailedError,
    ClientError,
    MirrorError,
    NotListedError,
    SetupError,
)
from ..metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..metrics import Registry
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
from .views import ViewRotation

__all__ = [
    "REFUSED",
    "FileBody",
    "ProxyApp",
    "Response",
    "describe_failure",
]

#: The status of an answer refused because verification failed (see the module docstring).
REFUSED = 424
#: Pages may be cached this long at most (PyPI's value), and never past the next refresh.
PAGE_MAX_AGE = 600
#: File URLs name the file's sha256, so their bytes never change (PyPI sends the same).
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"
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
        return _serves_host(host_header, self.allowed_hosts)

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


@functools.lru_cache(maxsize=256)  # installers send the same Host on every request
def _serves_host(host_header: str, allowed_hosts: frozenset[str]) -> bool:
    match = _HOST_HEADER.fullmatch(host_header.strip())
    if match is None:
        return False
    name = match.group(1).removeprefix("[").removesuffix("]").lower()
    if not name:
        return False
    if name in _LOCAL_NAMES or "*" in allowed_hosts:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name.rstrip(".") in allowed_hosts
    return True


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
