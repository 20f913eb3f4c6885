"""The TUF workflow over several mirrors: python-tuf's ngclient, one consistent view.

ngclient's ``Updater`` implements the TUF client workflow for one metadata URL and
keeps the metadata it trusts in memory (its trusted set) and on disk. This module adds
what a list of untrusted mirrors needs, without re-implementing any of the workflow:

**Refresh, once.** :meth:`MirroredUpdater.refresh` tries the mirrors in order, each
with a *fresh* ngclient ``Updater`` on the shared metadata directory, until one
refresh succeeds. A fresh one per mirror because a failed refresh leaves an Updater
half way through the workflow (ngclient cannot load a timestamp twice). Nothing a
failed mirror sent is persisted unless ngclient verified it (a newer root, or a
newer timestamp, that really are signed), which is exactly TUF's rule: trusted
metadata only advances on verified data. The Updater whose refresh succeeded is kept:
its trusted set (timestamp, snapshot, targets) is *the view* for the rest of this
object's life, so every page comes from one snapshot however many mirrors are used.

**Lookups fail over within the view.** Looking up a page target loads ``bins`` and a
bin lazily, at the versions the trusted snapshot names. If the mirror that gave the
view serves a bad bin, the same Updater retries the load from the next mirror: a
small routing fetcher sends the view's metadata URLs to whichever mirror is being
tried. The trusted set is unchanged by a failed load, so the retry verifies against
the same snapshot; a mirror can only supply bytes, never change the view.

**Page downloads** are verified as ngclient's ``download_target`` verifies them
(``TargetFile.verify_length_and_hashes``: length and sha256 from the signed target),
from the URL it would use (the consistent ``<sha256>.index.*`` name when the trusted
root says so), from each mirror in turn; but in memory, bounded by the signed length,
and written to the page cache only once verified. ``download_target`` spools into a
temporary file, copies it to the destination, and the caller then reads it back: on a
cold proxy that was a dozen system calls per page for bytes already at hand.

Every step that touches the metadata directory runs under the cache lock (one
process at a time) and a thread lock (one thread of this object at a time).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tuf.api.exceptions import DownloadError, LengthOrHashMismatchError, RepositoryError
from tuf.api.metadata import TargetFile
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from ..localfs import replace_file
from .errors import AllMirrorsFailedError, MirrorError, Phase, SetupError, from_tuf
from .health import MirrorHealth
from .mirrors import Mirror

__all__ = ["MirroredUpdater"]

_TUF_ERRORS = (RepositoryError, DownloadError)


class _Router(FetcherInterface):
    """Send requests under the view's metadata URL to the mirror being tried.

    ngclient builds metadata URLs from the base URL its Updater was created with; the
    view's Updater was created for one mirror, and this lets it read from another.
    Target URLs are given per download, so they are never rewritten.
    """

    def __init__(self, inner: FetcherInterface) -> None:
        self._inner = inner
        self._route: tuple[str, str] | None = None

    @contextlib.contextmanager
    def routed(self, view: Mirror, mirror: Mirror) -> Iterator[None]:
        self._route = (view.metadata_url, mirror.metadata_url)
        try:
            yield
        finally:
            self._route = None

    def _routed(self, url: str) -> str:
        if self._route is not None and url.startswith(self._route[0]):
            return self._route[1] + url[len(self._route[0]) :]
        return url

    def _fetch(self, url: str) -> Iterator[bytes]:
        return self._inner.fetch(self._routed(url))

    def download_bytes(self, url: str, max_length: int) -> bytes:
        # The inner fetcher's own (in memory, same bound), not the base class's spool.
        return self._inner.download_bytes(self._routed(url), max_length)


class MirroredUpdater:
    """ngclient over an ordered list of mirrors, with one view per object.

    ``bootstrap`` is the pinned root (bytes): every Updater starts from it, so a
    corrupt cached root is replaced rather than trusted, and newer cached roots are
    only used after they verify against it. ``None`` trusts ``metadata_dir/root.json``
    instead (the TUF conformance protocol's ``init`` stores the root there).
    ``lock`` guards the metadata directory against other processes. ``health`` records
    every mirror's failures (even when another mirror then succeeds) and orders the
    mirrors to try (see :mod:`.health`).
    """

    def __init__(
        self,
        metadata_dir: Path,
        mirrors: Sequence[Mirror],
        fetcher: FetcherInterface,
        config: UpdaterConfig,
        *,
        bootstrap: bytes | None,
        lock: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
        health: MirrorHealth | None = None,
    ) -> None:
        if not mirrors:
            raise SetupError("no mirror given")
        self.mirrors = tuple(mirrors)
        self._dir = Path(metadata_dir)
        self._router = _Router(fetcher)
        self._config = config
        self._bootstrap = bootstrap
        self._cache_lock = lock or contextlib.nullcontext
        self._thread_lock = threading.RLock()
        self._updater: Updater | None = None
        self._view: Mirror | None = None
        #: Target URLs carry the hash prefix (consistent snapshots; set by the refresh).
        self._consistent_targets = True
        self._refresh_error: AllMirrorsFailedError | None = None
        self.health = health or MirrorHealth([mirror.url for mirror in self.mirrors])

    @property
    def view_mirror(self) -> Mirror:
        """The mirror whose refresh gave this object's view (refreshing if needed)."""
        self.refresh()
        assert self._view is not None
        return self._view

    def lookup_order(self) -> list[Mirror]:
        """The mirror that gave the view first, then the others in the order given;
        mirrors that are down or hung after all of them (:meth:`MirrorHealth.order`)."""
        view = self.view_mirror
        return self.health.order([view, *(m for m in self.mirrors if m != view)], _url)

    def refresh(self) -> None:
        """Run the TUF refresh once, on the first mirror where it succeeds.

        Raises :class:`AllMirrorsFailedError` listing every mirror's failure; later
        calls raise the same error again (one refresh per object, even a failed one).
        """
        if self._updater is not None:
            # Set once and never unset: no lock needed to see it. Taking the lock here
            # would queue every request behind a lookup that is loading a bin.
            return
        with self._thread_lock:
            if self._updater is not None:
                return
            if self._refresh_error is not None:
                raise self._refresh_error
            attempt = self.health.attempt("refreshing TUF metadata", self.mirrors, _url)
            for mirror in attempt:
                with self._locked():
                    updater = self._new_updater(mirror)
                    try:
                        updater.refresh()
                    except _TUF_ERRORS as exc:
                        attempt.failed(mirror, self._error(exc, "refresh", "metadata"))
                        continue
                attempt.succeeded(mirror)
                self._consistent_targets = self._config.prefix_targets_with_hash and (
                    _trusted_root_is_consistent(self._dir)
                )
                self._updater, self._view = updater, mirror
                return
            self._refresh_error = attempt.error()
            raise self._refresh_error

    def lookup(self, target_path: str) -> TargetFile | None:
        """The signed target at ``target_path``, or None if the view does not list it."""
        updater = self._refreshed()
        view = self.view_mirror
        with self._thread_lock:
            attempt = self.health.attempt(f"looking up {target_path}", self.lookup_order(), _url)
            for mirror in attempt:
                try:
                    with self._locked(), self._router.routed(view, mirror):
                        found = updater.get_targetinfo(target_path)
                except _TUF_ERRORS as exc:
                    attempt.failed(mirror, self._error(exc, "lookup", target_path))
                    continue
                attempt.succeeded(mirror)
                return found
        raise attempt.error()

    def fetch_target(self, target: TargetFile, dest: Path) -> tuple[bytes, Mirror | None]:
        """The verified bytes of ``target``, kept at ``dest``; and who served them.

        A copy already at ``dest`` that matches the target is used as is (the mirror
        is then None). Otherwise each mirror's consistent copy is tried in turn,
        written to a temporary name beside ``dest``, and renamed once ngclient
        verified it. The bytes returned are the ones verified, even if another
        process replaces ``dest`` a moment later.
        """
        self._refreshed()
        cached = _verified_copy(dest, target)
        if cached is not None:
            return cached, None
        attempt = self.health.attempt(f"downloading {target.path}", self.lookup_order(), _url)
        for mirror in attempt:
            try:
                data = self._router.download_bytes(self._target_url(target, mirror), target.length)
                target.verify_length_and_hashes(data)
            except _TUF_ERRORS as exc:
                attempt.failed(mirror, self._error(exc, "download", target.path))
                continue
            try:
                replace_file(dest, data, durable=False)  # a cache: the page is re-fetched if lost
            except OSError as exc:
                raise SetupError(f"cannot write {dest}: {exc}") from exc
            attempt.succeeded(mirror)
            return data, mirror
        raise attempt.error()

    # -- internals -------------------------------------------------------------------

    def _target_url(self, target: TargetFile, mirror: Mirror) -> str:
        """Where ``target`` is on ``mirror``: ngclient's ``download_target`` rule."""
        path = target.path
        if self._consistent_targets:
            dirname, sep, basename = path.rpartition("/")
            path = f"{dirname}{sep}{next(iter(target.hashes.values()))}.{basename}"
        base = mirror.targets_url
        return (base if base.endswith("/") else base + "/") + path

    def _refreshed(self) -> Updater:
        self.refresh()
        assert self._updater is not None
        return self._updater

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._cache_lock():
            try:
                yield
            except OSError as exc:
                raise SetupError(f"metadata cache {self._dir}: {exc}") from exc

    def _new_updater(self, mirror: Mirror) -> Updater:
        try:
            return Updater(
                str(self._dir),
                mirror.metadata_url,
                fetcher=self._router,
                config=self._config,
                bootstrap=self._bootstrap,
            )
        except RepositoryError as exc:
            raise SetupError(f"the trusted root is not valid TUF root metadata: {exc}") from exc

    @staticmethod
    def _error(exc: Exception, phase: Phase, path: str) -> MirrorError:
        verb = {"refresh": "refreshing", "lookup": "looking up", "download": "downloading"}[phase]
        return from_tuf(exc, phase, f"{verb} {path}")


def _url(mirror: Mirror) -> str:
    return mirror.url


def _trusted_root_is_consistent(metadata_dir: Path) -> bool:
    """``consistent_snapshot`` of the trusted root ngclient keeps in ``metadata_dir``.

    Read from the file ngclient persisted after verifying it (its trusted set has no
    public accessor); only called after a successful refresh, so the file is there.
    """
    try:
        root = json.loads((metadata_dir / "root.json").read_bytes())
        return bool(root["signed"].get("consistent_snapshot", False))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SetupError(f"cannot read the trusted root in {metadata_dir}: {exc}") from exc


def _verified_copy(path: Path, target: TargetFile) -> bytes | None:
    """The bytes at ``path`` if they are exactly ``target``, else None."""
    try:
        if path.stat().st_size != target.length:
            return None
        data = path.read_bytes()
        target.verify_length_and_hashes(data)
    except (OSError, LengthOrHashMismatchError):
        return None
    return data
