"""The proxy's URL space: what each request path means, and the file URLs pages link to.

::

    /                                   -> 301 /simple/
    /simple/                            the root index (not a TUF target: see proxy_pages)
    /simple/<project>/                  a project page, verified through TUF
    /simple/<Other_Spelling>[/]         -> 301 /simple/<normalized>/ (PEP 503)
    /files/<project>/<sha256>/<file>    a distribution file listed on the project's page
    /files/<project>/<sha256>/<file>.metadata   its PEP 658 metadata file
    /metrics                            Prometheus metrics

File URLs name the project (to find the verified page that vouches for the file) and the
sha256 the page gave (so a URL always means the same bytes and may be cached forever),
and end with the file's own name, which installers read the name, version and tags from.
They carry no query string: installers append ``.metadata`` to a file URL (PEP 658).
Pages link to files with relative URLs (``../../files/...``), so the proxy also works
behind a reverse proxy that adds a path prefix.

Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from .. import layout

__all__ = [
    "FILES_DIR",
    "FileRoute",
    "MetricsRoute",
    "NotFound",
    "PageRoute",
    "Redirect",
    "RootRoute",
    "Route",
    "file_url",
    "route",
]

FILES_DIR = "files"
_SIMPLE = layout.SIMPLE_DIR
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Redirect:
    """``301 Moved Permanently`` to ``location`` (an absolute path)."""

    location: str


@dataclass(frozen=True)
class RootRoute:
    """``/simple/``."""


@dataclass(frozen=True)
class PageRoute:
    """``/simple/<project>/`` with a normalized project name."""

    project: str


@dataclass(frozen=True)
class FileRoute:
    """``/files/<project>/<sha256>/<filename>``; ``filename`` may end in ``.metadata``."""

    project: str
    sha256: str
    filename: str


@dataclass(frozen=True)
class MetricsRoute:
    """``/metrics``."""


@dataclass(frozen=True)
class NotFound:
    """Nothing lives here; ``reason`` says why, for the 404 body."""

    reason: str


Route = Redirect | RootRoute | PageRoute | FileRoute | MetricsRoute | NotFound


def file_url(project: str, sha256: str, filename: str) -> str:
    """The URL of a file as the page of ``project`` links to it (relative to the page)."""
    return f"../../{FILES_DIR}/{project}/{sha256}/{quote(filename, safe='')}"


def route(target: str) -> Route:
    """What the request target (``/path?query``, or an absolute URL) names.

    The query string is ignored. Each path segment is percent-decoded after splitting,
    so an encoded ``/`` stays inside its segment instead of adding one.
    """
    try:
        path = urlsplit(target).path
    except ValueError:
        return NotFound("malformed request target")
    segments = [unquote(segment) for segment in path.split("/")]
    if segments[0] != "":
        return NotFound("the path must start with /")
    parts = segments[1:]
    if parts in ([], [""], [_SIMPLE]):
        return Redirect(f"/{_SIMPLE}/")
    if parts == [_SIMPLE, ""]:
        return RootRoute()
    if parts[0] == _SIMPLE:
        return _page_route(parts[1:])
    if parts[0] == FILES_DIR and len(parts) == 4:
        return _file_route(*parts[1:])
    if parts == ["metrics"]:
        return MetricsRoute()
    return NotFound(f"nothing is served at {path!r}: installers use /{_SIMPLE}/<project>/")


def _page_route(parts: list[str]) -> Route:
    name = parts[0]
    try:
        project = layout.project_name(name)
    except layout.LayoutError as e:
        return NotFound(str(e))
    if parts == [name]:  # no trailing slash
        return Redirect(f"/{_SIMPLE}/{project}/")
    if parts != [name, ""]:
        return NotFound(f"only /{_SIMPLE}/{project}/ is served for project {project}")
    if project != name:
        return Redirect(f"/{_SIMPLE}/{project}/")
    return PageRoute(project)


def _file_route(project: str, sha256: str, filename: str) -> Route:
    if not layout.is_normalized(project):
        return NotFound(f"{project!r} is not a normalized project name")
    if not _SHA256.fullmatch(sha256):
        return NotFound(f"{sha256!r} is not a lowercase sha256 digest")
    if filename in ("", ".", "..") or "/" in filename or "\\" in filename:
        return NotFound(f"{filename!r} is not a file name")
    return FileRoute(project, sha256, filename)
