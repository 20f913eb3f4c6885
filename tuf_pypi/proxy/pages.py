"""The pages the proxy serves: verified pages, with file links pointing back at the proxy.

An installer must download every file through the proxy, so each file URL on a page is
replaced with the proxy's own (:func:`.proxy_routes.file_url`); everything else the
index signed is kept: hashes, size, requires-python, yanked and its reason,
core-metadata, upload-time, and in JSON any key this code does not know (``versions``,
``meta``, project status...).

Two things are left out, on purpose, because the proxy could not serve them verified:

* a file without a sha256 on the page (md5 alone does not count): DESIGN.md §3 says
  clients refuse it, and listing it would only make the installer pick it and fail;
* the core-metadata flag of a file whose page gives no sha256 for its ``.metadata``:
  the installer then reads the metadata from the (verified) wheel instead.

Either form of page can be sent whichever form the index signed:

* JSON from a signed JSON page: the signed document, with file entries rewritten;
* JSON from a signed HTML page: built from the parsed model, declared ``api-version``
  1.0 (HTML has no sizes or version list, which 1.1 requires);
* HTML, always rendered from the parsed model (PEP 503 + 592 + 629 + 658 + 714); HTML
  has no place for size or upload-time (PEP 700 added them to JSON only).

PEP 714 names the metadata key per form: JSON gets ``core-metadata`` only (the legacy
``dist-info-metadata`` object crashes pip from 22.3 until 23.2); HTML gets ``data-core-metadata``
and, as PEP 714 allows for older installers, the same value as ``data-dist-info-metadata``.

The root index (``/simple/``) is not a TUF target (DESIGN.md §3: too large, changes with
every new project), so the proxy cannot verify one and serves an empty listing that
says so. pip and uv never read it.

Nothing here does I/O.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..pages import FileLink, ProjectPage
from .routes import file_url

__all__ = [
    "METADATA_SUFFIX",
    "OfferedFile",
    "find_offered",
    "is_offered",
    "render_html",
    "render_json",
    "render_root_html",
    "render_root_json",
]

METADATA_SUFFIX = ".metadata"
_JSON_SEPARATORS = (",", ":")
# JSON made from an HTML page lacks the keys api-version 1.1 requires (size, versions).
_CONVERTED_API_VERSION = "1.0"
_HTML_API_VERSION = "1.0"
# PEP 714: JSON pages MUST carry PEP 658 metadata as ``core-metadata`` and only HTML MAY
# repeat it under the old name. pip from 22.3 until 23.2 crashes ("unhashable type: 'dict'") on a
# JSON ``dist-info-metadata`` object, so the old key (and PyPI's short-lived misspelling
# of it) is dropped from JSON entries, even where the signed page carried it.
_JSON_METADATA_KEY = "core-metadata"
_LEGACY_JSON_METADATA_KEYS = ("dist-info-metadata", "data-dist-info-metadata")
_ROOT_NOTE = (
    "The root index is not signed (it is not a TUF target), so this verifying proxy "
    "does not list projects. Installers use /simple/<project>/ directly."
)


@dataclass(frozen=True)
class OfferedFile:
    """A file the proxy serves: a link of a verified page, or that link's ``.metadata``."""

    link: FileLink
    metadata: bool

    @property
    def filename(self) -> str:
        return self.link.filename + (METADATA_SUFFIX if self.metadata else "")

    @property
    def sha256(self) -> str:
        """The digest the verified page gives for these bytes."""
        digest = self.link.metadata_sha256 if self.metadata else self.link.sha256
        assert digest is not None, "only links with a sha256 are offered"
        return digest


def is_offered(link: FileLink) -> bool:
    """True when the proxy lists (and serves) ``link``: it has a sha256 to verify against."""
    return link.sha256 is not None


def find_offered(page: ProjectPage, sha256: str, filename: str) -> OfferedFile | None:
    """The file that the URL ``.../<sha256>/<filename>`` names on ``page``, if offered.

    ``sha256`` is the file's digest as the page gave it when the URL was made; a page
    that has changed since (a file replaced under the same name) no longer offers it.
    ``<file>.metadata`` names the metadata file of ``<file>``, unless the page lists a
    file by that exact name.
    """
    link = page.find(filename)
    if link is not None and is_offered(link) and link.sha256 == sha256:
        return OfferedFile(link, metadata=False)
    if filename.endswith(METADATA_SUFFIX):
        link = page.find(filename[: -len(METADATA_SUFFIX)])
        if (
            link is not None
            and is_offered(link)
            and link.sha256 == sha256
            and link.metadata_sha256 is not None
        ):
            return OfferedFile(link, metadata=True)
    return None


def render_json(project: str, page: ProjectPage, signed: bytes) -> bytes:
    """The PEP 691 JSON page of ``project``; ``signed`` are the bytes ``page`` was parsed from."""
    if page.form == "json":
        doc = json.loads(signed)
        entries = doc["files"]
        # parse_json makes one link per entry, in order, and refused anything malformed.
        assert len(entries) == len(page.files)
        doc["files"] = [
            _json_entry(project, link, entry)
            for link, entry in zip(page.files, entries, strict=True)
            if is_offered(link)
        ]
    else:
        doc = {
            "meta": {"api-version": _CONVERTED_API_VERSION},
            "name": page.name or project,
            "files": [_json_entry(project, link, {}) for link in page.files if is_offered(link)],
        }
    return json.dumps(doc, separators=_JSON_SEPARATORS, ensure_ascii=False).encode("utf-8")


def render_html(project: str, page: ProjectPage) -> bytes:
    """The PEP 503 HTML page of ``project``."""
    name = html.escape(page.name or project)
    version = html.escape(page.api_version or _HTML_API_VERSION)
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{version}">',
        f"    <title>Links for {name}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {name}</h1>",
    ]
    lines += [f"    {_anchor(project, link)}<br />" for link in page.files if is_offered(link)]
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def render_root_json() -> bytes:
    """The root index in JSON: no projects, and why."""
    doc = {"meta": {"api-version": _CONVERTED_API_VERSION, "_note": _ROOT_NOTE}, "projects": []}
    return json.dumps(doc, separators=_JSON_SEPARATORS).encode("utf-8")


def render_root_html() -> bytes:
    """The root index in HTML: no projects, and why."""
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{_HTML_API_VERSION}">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
        f"    <p>{html.escape(_ROOT_NOTE)}</p>\n  </body>\n</html>\n"
    ).encode()


# -- pieces ----------------------------------------------------------------------------


def _url(project: str, link: FileLink) -> str:
    assert link.sha256 is not None
    return file_url(project, link.sha256, link.filename)


def _json_entry(project: str, link: FileLink, signed_entry: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON file entry: the signed entry's keys, with the URL and what the model knows.

    Values come from the parsed link (hashes merged from a URL fragment, normalised
    yanked and core-metadata), so both renderers say exactly the same thing.
    """
    entry = dict(signed_entry)
    entry.update(filename=link.filename, url=_url(project, link), hashes=dict(link.hashes))
    if "requires-python" in entry or link.requires_python is not None:
        entry["requires-python"] = link.requires_python
    entry["yanked"] = link.yanked
    if link.size is not None:
        entry["size"] = link.size
    if link.upload_time is not None:
        entry["upload-time"] = link.upload_time
    for key in _LEGACY_JSON_METADATA_KEYS:
        entry.pop(key, None)
    entry.pop(_JSON_METADATA_KEY, None)
    if link.metadata_sha256 is not None and isinstance(link.core_metadata, Mapping):
        entry[_JSON_METADATA_KEY] = dict(link.core_metadata)
    return entry


def _anchor(project: str, link: FileLink) -> str:
    href = f"{_url(project, link)}#sha256={link.sha256}"
    attrs = [f'href="{html.escape(href)}"']
    if link.requires_python is not None:
        attrs.append(f'data-requires-python="{html.escape(link.requires_python)}"')
    if link.yanked is not False:
        reason = "" if link.yanked is True else link.yanked
        attrs.append(f'data-yanked="{html.escape(reason)}"')
    if link.metadata_sha256 is not None:
        value = f"sha256={link.metadata_sha256}"
        attrs += [f'data-dist-info-metadata="{value}"', f'data-core-metadata="{value}"']
    return f"<a {' '.join(attrs)}>{html.escape(link.filename)}</a>"
