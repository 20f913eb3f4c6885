"""The client: verified pages and files of one package index, through untrusted mirrors.

Trust starts from a pinned ``root.json`` (DESIGN.md §6), never from the network. From
it, python-tuf verifies the signed metadata and each project page (a TUF target); each
page then vouches for its files by sha256 (hash chaining, :mod:`.files`). Mirrors only
choose which bytes arrive: whatever fails verification on one mirror is fetched from
the next, and nothing unverified ever reaches the caller or the cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Root

from .. import layout
from ..pages import FORMS, FileLink, PageError, ProjectPage, parse_page
from .cache import CacheDir
from .errors import InvalidPageError, NotListedError, SetupError
from .fetcher import BoundedFetcher
from .files import ExpectedFile, fetch_file
from .health import MirrorHealth, Refusal
from .limits import Limits
from .mirrors import Mirror, file_urls
from .updater import MirroredUpdater

__all__ = ["Client", "VerifiedPage"]

#: Page form names as callers give them, to the page file name of that form.
_FORM_FILES = {kind: filename for filename, kind in FORMS.items()} | {f: f for f in FORMS}
#: Without a form, prefer JSON (it gives file sizes), then HTML.
_DEFAULT_FORMS = ("index.v1_json", "index.html")


@dataclass(frozen=True)
class VerifiedPage:
    """A project page that verified through TUF, raw and parsed.

    ``data`` are the exact bytes the index signed (serve these to an installer);
    ``page`` is the parsed model. ``url`` is the page's URL on the mirror that
    served it: file links resolve against it.
    """

    project: str
    form: str
    target_path: str
    data: bytes
    page: ProjectPage
    url: str

    def link(self, filename: str) -> FileLink:
        """The page's link for ``filename``; :class:`NotListedError` if there is none."""
        link = self.page.find(filename)
        if link is None:
            raise NotListedError(f"{self.target_path}: no file named {filename!r} on the page")
        return link


class Client:
    """Verified access to one index through an ordered list of mirrors.

    ``mirrors`` are base URLs of copies of the index, tried in order. ``root`` is the
    pinned trusted root: the bytes of a ``root.json``, or a path to one. ``cache_dir``
    holds trusted metadata and verified pages between runs; several processes may
    share it. Metadata is refreshed at most once per Client (lazily, on first use),
    so one Client is one consistent view of the index: make one per installer run.
    ``via`` is sent as the ``Via`` header of every request (a proxy names itself, to
    recognise its own requests).

    ``health`` records every mirror's failures, also those another mirror made up for
    (:attr:`refusals`), and remembers mirrors that are down; share one between the
    Clients of a long-running process. By default each Client has its own.

    Thread-safe. Use as a context manager, or call :meth:`close`, to release
    connections.
    """

    def __init__(
        self,
        mirrors: Sequence[str],
        root: bytes | str | os.PathLike[str],
        cache_dir: str | os.PathLike[str],
        *,
        limits: Limits | None = None,
        user_agent: str | None = None,
        via: str | None = None,
        health: MirrorHealth | None = None,
    ) -> None:
        if isinstance(mirrors, str):
            raise TypeError("mirrors must be a sequence of URLs, not one string")
        self.mirrors = tuple(dict.fromkeys(Mirror.at(url) for url in mirrors))
        if not self.mirrors:
            raise SetupError("give at least one mirror URL")
        bootstrap = _pinned_root(root)
        self.limits = limits or Limits()
        self.cache = CacheDir(cache_dir)
        self.cache.create()
        self.health = health or MirrorHealth([mirror.url for mirror in self.mirrors])
        self._fetcher = BoundedFetcher(self.limits, user_agent, via=via)
        self._updater = MirroredUpdater(
            self.cache.metadata_dir,
            self.mirrors,
            self._fetcher,
            self.limits.updater_config(),
            bootstrap=bootstrap,
            lock=self.cache.locked,
            health=self.health,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections (the client stays usable)."""
        self._fetcher.close()

    @property
    def refusals(self) -> list[Refusal]:
        """Every failure of a mirror so far (see :class:`MirrorHealth`), oldest first."""
        return self.health.refusals

    def refresh(self) -> None:
        """Refresh the TUF metadata now rather than on first use (at most once)."""
        self._updater.refresh()

    def preload(self, target_paths: Iterable[str]) -> None:
        """Look these page targets up now, loading the metadata (bins) that lists them,
        so later :meth:`page` calls need no metadata download (:mod:`.prefetch`)."""
        for target_path in target_paths:
            self._updater.lookup(target_path)

    def page(self, project: str, form: str | None = None) -> VerifiedPage:
        """The verified page of ``project`` (any spelling; it is normalized).

        ``form`` is ``"json"`` (PEP 691, ``index.v1_json``) or ``"html"`` (PEP 503,
        ``index.html``); by default JSON if the index signed one, else HTML. Raises
        :class:`NotListedError` when the index lists no such page.
        """
        try:
            name = layout.project_name(project.strip())
        except layout.LayoutError as exc:
            raise NotListedError(str(exc)) from None
        forms = _DEFAULT_FORMS if form is None else (_form_file(form),)
        for filename in forms:
            target_path = layout.page_target(name, filename)
            target = self._updater.lookup(target_path)
            if target is None:
                continue
            data, mirror = self._updater.fetch_target(target, self.cache.page_path(target_path))
            url = (mirror or self._updater.view_mirror).page_url(name)
            try:
                parsed = parse_page(data, filename, url + filename)
            except PageError as exc:
                raise InvalidPageError(str(exc)) from exc
            return VerifiedPage(name, FORMS[filename], target_path, data, parsed, url)
        wanted = " or ".join(layout.page_target(name, f) for f in forms)
        raise NotListedError(f"project {name!r} is not listed on this index (no signed {wanted})")

    def download(
        self,
        page: VerifiedPage,
        file: str | FileLink,
        dest_dir: str | os.PathLike[str],
        *,
        name: str | None = None,
    ) -> Path:
        """Download a file listed on ``page`` into ``dest_dir``; return its path.

        The bytes must match the sha256 (and size, where given) of the verified page.
        An existing file that already matches is kept. Raises :class:`NoHashError` for
        a link without a sha256, :class:`AllMirrorsFailedError` when no URL verifies.
        ``name`` stores it under another file name in ``dest_dir`` (the proxy keeps
        files by their sha256); by default the link's file name.
        """
        link = page.link(file) if isinstance(file, str) else file
        expected = ExpectedFile.distribution(link, page.target_path)
        return self._fetch(page, expected, dest_dir, self.limits.file_max_bytes, name)

    def download_metadata(
        self,
        page: VerifiedPage,
        file: str | FileLink,
        dest_dir: str | os.PathLike[str],
        *,
        name: str | None = None,
    ) -> Path:
        """Download the PEP 658 ``<file>.metadata`` of a file on ``page``, verified the same
        way against the page's ``core-metadata`` sha256 (``name`` as for :meth:`download`).

        Pages give no size for it, so the download stops at
        :attr:`Limits.metadata_max_bytes` (:class:`TooLargeError`), not at the limit
        for distribution files.
        """
        link = page.link(file) if isinstance(file, str) else file
        expected = ExpectedFile.core_metadata(link, page.target_path)
        return self._fetch(page, expected, dest_dir, self.limits.metadata_max_bytes, name)

    def file_urls(self, page: VerifiedPage, link: FileLink) -> list[str]:
        """The URLs :meth:`download` tries for ``link``, in order."""
        return file_urls(page.url, link.url, self.mirrors)

    def _fetch(
        self,
        page: VerifiedPage,
        expected: ExpectedFile,
        dest_dir: str | os.PathLike[str],
        max_bytes: int,
        name: str | None,
    ) -> Path:
        urls = file_urls(page.url, expected.url, self.mirrors)
        dest = Path(dest_dir) / (expected.filename if name is None else _plain_name(name))
        return fetch_file(self._fetcher, expected, urls, dest, max_bytes, health=self.health)


def _plain_name(name: str) -> str:
    """``name`` if it is a plain file name (no directory part, not ``.`` or ``..``)."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise SetupError(f"not a plain file name: {name!r}")
    return name


def _form_file(form: str) -> str:
    try:
        return _FORM_FILES[form]
    except KeyError:
        choices = ", ".join(sorted(_FORM_FILES))
        raise SetupError(f"unknown page form {form!r}: use one of {choices}") from None


def _pinned_root(root: bytes | str | os.PathLike[str]) -> bytes:
    """The pinned root's bytes, checked to be root metadata signed by its own keys."""
    if isinstance(root, bytes):
        data, source = root, "the pinned root"
    else:
        source = os.fspath(root)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise SetupError(f"cannot read the pinned root {source}: {exc}") from exc
    try:
        md = Metadata[Root].from_bytes(data)
        if not isinstance(md.signed, Root):
            raise SetupError(f"{source} is {md.signed.type} metadata, not root")
        md.signed.verify_delegate(Root.type, md.signed_bytes, md.signatures)
    except SetupError:
        raise  # already says what is wrong (it is a ValueError too)
    except (RepositoryError, ValueError, KeyError, TypeError) as exc:
        raise SetupError(f"{source} is not valid, self-signed TUF root metadata: {exc}") from exc
    return data
