"""What an index hands the publishing queue: a project's new pages, or its deletion.

An update carries the exact bytes the index rendered, so the publisher signs what the
index would serve, not a re-rendering. It is validated here, in the index's upload
request, because that is the last moment a bad page can be refused with a clear error
to whoever caused it: once queued, an update is applied as it is. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .. import layout, pages
from ..errors import RepoError

__all__ = [
    "DEFAULT_MAX_PAGE_BYTES",
    "PageUpdate",
    "UpdateRejected",
    "deletion",
    "page_update",
]

#: The same limit the publisher applies to pages it reads from disk: an update the
#: queue accepts must never be one the publisher would then skip.
DEFAULT_MAX_PAGE_BYTES: int = pages.MAX_PAGE_BYTES

_HTML, _JSON = layout.PAGE_FORMS


class UpdateRejected(RepoError, ValueError):
    """An update refused at enqueue time; the message names the project and the rule."""


@dataclass(frozen=True)
class PageUpdate:
    """A validated update of one project (normalized name).

    ``html`` and ``json`` are the new page bytes of each form, or None when that form
    is left as it is. ``delete`` removes both forms (the project is gone).
    """

    project: str
    html: bytes | None = None
    json: bytes | None = None
    delete: bool = False

    @property
    def pages(self) -> dict[str, bytes]:
        """Page file name (``index.html`` / ``index.v1_json``) to new bytes."""
        forms = {_HTML: self.html, _JSON: self.json}
        return {form: data for form, data in forms.items() if data is not None}

    @property
    def size(self) -> int:
        """Bytes of page data carried, which batches are limited by."""
        return sum(len(data) for data in self.pages.values())

    def sha256(self, form: str) -> str | None:
        data = self.pages.get(form)
        return None if data is None else hashlib.sha256(data).hexdigest()


def _project(name: str) -> str:
    if not isinstance(name, str):
        raise UpdateRejected(f"project name must be a str, not {type(name).__name__}")
    try:
        return layout.project_name(name)
    except layout.LayoutError as e:
        raise UpdateRejected(str(e)) from None


def _check_page(project: str, form: str, data: object, max_bytes: int) -> None:
    target = layout.page_target(project, form)
    if not isinstance(data, bytes):
        raise UpdateRejected(f"{target}: page must be bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise UpdateRejected(
            f"{target}: {len(data)} bytes is over the page size limit of {max_bytes} bytes"
        )
    try:
        parsed = pages.parse_page(data, form, target)
    except pages.PageError as e:
        raise UpdateRejected(str(e)) from None
    if parsed.name is not None and layout.normalize(parsed.name) != project:
        raise UpdateRejected(f"{target}: the page is for project {parsed.name!r}, not {project}")


def page_update(
    project: str,
    *,
    html: bytes | None = None,
    json: bytes | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> PageUpdate:
    """Validate new page bytes of ``project`` (either form or both).

    The name is normalized (PEP 503); each page must parse strictly as its form
    (:mod:`tuf_pypi.pages`), be at most ``max_bytes``, and a JSON page must name this
    project. Raises :class:`UpdateRejected` otherwise.
    """
    name = _project(project)
    if html is None and json is None:
        raise UpdateRejected(f"{name}: no page given (pass html and/or json, or a deletion)")
    for form, data in ((_HTML, html), (_JSON, json)):
        if data is not None:
            _check_page(name, form, data, max_bytes)
    return PageUpdate(name, html, json)


def deletion(project: str) -> PageUpdate:
    """An update that removes both pages of ``project`` (and so its targets)."""
    return PageUpdate(_project(project), delete=True)
