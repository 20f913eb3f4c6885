"""Mirrors: where the bytes come from, and where each file may be fetched.

A mirror is untrusted: it only decides which bytes arrive, never whether they are
accepted. So choosing URLs needs no security judgement, only the contract of
DESIGN.md §6: metadata under ``<mirror>/tuf/``, pages under ``<mirror>/simple/``,
and a file link resolved against its page's URL; when the resolved path has a
``/packages/`` segment, the same remainder is tried under every mirror's
``packages/`` in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from .. import layout
from .errors import SetupError

__all__ = ["Mirror", "file_urls"]

_PACKAGES = "/packages/"
_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Mirror:
    """One copy of the index. ``url`` names it in messages and ends with ``/``."""

    url: str
    metadata_url: str
    targets_url: str

    @classmethod
    def at(cls, base_url: str) -> Mirror:
        """The mirror whose index root is ``base_url`` (``tuf/``, ``simple/`` below it)."""
        parts = urlsplit(base_url.strip())
        if parts.scheme not in _SCHEMES or not parts.netloc:
            raise SetupError(f"mirror {base_url!r} is not an http:// or https:// URL")
        if parts.query or parts.fragment:
            raise SetupError(f"mirror {base_url!r} must not have a query or fragment")
        base = parts.geturl()
        if not base.endswith("/"):
            base += "/"
        return cls(url=base, metadata_url=f"{base}{layout.METADATA_DIR}/", targets_url=base)

    def page_url(self, project: str) -> str:
        """The URL installers use for a project's page; links resolve against it."""
        return f"{self.targets_url}{layout.SIMPLE_DIR}/{project}/"

    @property
    def packages_url(self) -> str:
        return f"{self.url}packages/"


def file_urls(page_url: str, link_url: str, mirrors: Sequence[Mirror]) -> list[str]:
    """Every URL to try for a file, in order, without duplicates.

    A path with a ``/packages/`` segment (the last one, so a mirror whose own base
    path contains ``packages`` still works) is tried under each mirror's
    ``packages/``. The resolved URL itself comes last: PyPI's own pages link to
    files.pythonhosted.org, which no mirror base URL covers (a URL that is not http(s)
    fails there, as one more failure to report). Whichever URL answers, the bytes must
    match the verified page's sha256.
    """
    resolved = urljoin(page_url, link_url)
    parts = urlsplit(resolved)
    urls: list[str] = []
    cut = parts.path.rfind(_PACKAGES)
    if cut != -1:
        rest = parts.path[cut + len(_PACKAGES) :]
        urls.extend(mirror.packages_url + rest for mirror in mirrors)
    urls.append(resolved)
    return list(dict.fromkeys(urls))
