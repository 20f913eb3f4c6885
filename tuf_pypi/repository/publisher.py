"""Publishing: sign new and changed pages with the online key, incrementally.

The order of writes is the safety argument (DESIGN §5): page copies, then bins,
then the snapshot, then ``timestamp.json``. Until the timestamp is replaced no
client can reach anything this run wrote, so a crash at any point leaves the
previous state valid, and the next run, which starts again from what the
timestamp says, simply redoes the work.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import multiprocessing
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from securesystemslib.signer import Key, Signer

from .. import layout, pages
from ..keys import KeyDirectory
from ..localfs import replace_with_link
from . import canonical
from . import metadata as md_builder
from .bulk import fast_write, instrumented, sync_filesystem, write_many
from .metadata import DEFAULT_EXPIRY, Expiry
from .pagecache import PageCache, ScannedPage, scan_projects
from .scan import Page, Skipped, project_dirs, read_project
from .state import PublishedState, load_state, parse_expires
from .storage import RepositoryStorage, StorageError, publisher_lock

__all__ = ["Clock", "PublishReport", "Publisher", "RefreshReport", "utcnow"]

Clock = Callable[[], datetime]
#: Called as progress(done, total) while pages are scanned.
Progress = Callable[[int, int], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PublishReport:
    """What one publish did, for the CLI summary and for tests."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unverifiable: dict[str, int] = field(default_factory=dict)
    #: Pages found edited in place (same file, new bytes) since the last full scan.
    edited_in_place: list[str] = field(default_factory=list)
    bins_signed: list[str] = field(default_factory=list)
    snapshot_version: int | None = None
    timestamp_version: int | None = None

    @property
    def wrote_metadata(self) -> bool:
        return self.timestamp_version is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "repaired": self.repaired,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "unverifiable": self.unverifiable,
            "edited_in_place": self.edited_in_place,
            "bins_signed": self.bins_signed,
            "snapshot_version": self.snapshot_version,
            "timestamp_version": self.timestamp_version,
        }


@dataclass
class RefreshReport:
    """Roles re-signed by a refresh, and the new snapshot/timestamp versions."""

    resigned: list[str] = field(default_factory=list)
    snapshot_version: int | None = None
    timestamp_version: int | None = None


class Publisher:
    """Signs a repository's pages with the online key. Never needs an offline key.

    A publisher object may be kept and used for many publishes: it keeps the
    published state in memory and reuses it while ``timestamp.json`` still holds
    the bytes it last saw, so publishing one project reads no metadata at all.
    """

    def __init__(
        self,
        repo: Path,
        keys: KeyDirectory,
        *,
        state_dir: Path | None = None,
        expiry: Expiry = DEFAULT_EXPIRY,
        clock: Clock = utcnow,
        storage: RepositoryStorage | None = None,
        wait_for_lock: bool = True,
        processes: int | None = None,
        page_cache: bool = True,
        link_copies: bool = False,
    ) -> None:
        self.storage = storage or RepositoryStorage(repo)
        self.keys = keys
        self.state_dir = state_dir or keys.path
        self.lock_file = self.state_dir / layout.LOCK_FILE
        self.expiry = expiry
        self.clock = clock
        self.wait_for_lock = wait_for_lock
        #: Worker processes hashing and parsing pages in a full publish.
        self.processes = processes if processes is not None else (os.cpu_count() or 1)
        self.page_cache = page_cache
        #: Make page copies hard links to the page files (see docs/performance.md):
        #: only for trees whose pages are always replaced by rename, never edited
        #: in place, since an edit in place would change the signed copy too.
        self.link_copies = link_copies
        self._signers: dict[str, Signer] = {}
        self._state: PublishedState | None = None
        #: Called with the lock file when a change has to wait for another publisher.
        self.on_lock_wait: Callable[[Path], None] | None = None

    # -- public operations -------------------------------------------------------

    def publish(
        self, projects: Iterable[str] | None = None, progress: Progress | None = None
    ) -> PublishReport:
        """Sign every new/changed page (all projects, or only ``projects``).

        Project names are normalized; a name that is not a valid project name
        raises ``layout.LayoutError`` before anything is written.
        """
        selected = None if projects is None else sorted({_project(p) for p in projects})
        with self.transaction() as state:
            report = PublishReport()
            save_cache = None
            if selected is None:
                changes, save_cache = self._collect_full(state, report, progress)
            else:
                changes = self._collect_selected(state, selected, report, progress)
            if changes:
                # Rendered targets are worth keeping only when few change per bin.
                self._commit(state, changes, report, reuse_rendered=selected is not None)
            if save_cache is not None:
                save_cache()  # only once what it describes is published
            return report

    def publish_pages(self, page_bytes: Mapping[str, bytes | None]) -> PublishReport:
        """Write and sign pages given in memory: ``{target path: bytes, or None to delete}``.

        For a queue of page updates (many projects per batch): each page is parsed
        strictly (a bad page is skipped and reported, its signed version stays),
        written to ``simple/<project>/<form>`` with its consistent copy, and the whole
        batch is committed as one set of bins, one snapshot and one timestamp.
        Paths are validated before anything is written.
        """
        targets = {layout.parse_page_target(p).path: data for p, data in page_bytes.items()}
        with self.transaction() as state:
            report = PublishReport()
            changes: _Changes = {}
            items: list[tuple[str, str, bytes, dict | None]] = []
            for path in sorted(targets):
                data = targets[path]
                bin_name = state.bin_of(path)
                current = state.bin_targets(self.storage, bin_name).get(path)
                if data is None:
                    with contextlib.suppress(FileNotFoundError):
                        (self.storage.root / path).unlink()
                    if current is not None:
                        changes.setdefault(bin_name, {})[path] = None
                        report.removed.append(path)
                    continue
                items.append((path, bin_name, data, current))
            processes = min(self.processes, len(items) // _PARALLEL_PAGES)
            if processes > 1 and not instrumented(self.storage):
                self._prepare_parallel(items, processes, changes, report)
            else:
                writes: list[tuple[Path, bytes]] = []
                for path, bin_name, data, current in items:
                    page = _page_from_bytes(path, data)
                    if isinstance(page, Skipped):
                        report.skipped.append(page)
                        continue
                    writes.append((self.storage.root / path, data))
                    self._stage(page, current, bin_name, changes, report, writes, data)
                write_many(self.storage, writes)
            if changes:
                self._commit(state, changes, report, reuse_rendered=True)
            return report

    def _prepare_parallel(
        self,
        items: list[tuple[str, str, bytes, dict | None]],
        processes: int,
        changes: _Changes,
        report: PublishReport,
    ) -> None:
        """Parse, hash and write a large batch's pages in forked workers.

        Each worker does for its share exactly what the one-process path does per
        page (strict parse, sha256, write the page and, as ``_stage`` decides, its
        copy) with :func:`fast_write`; one ``syncfs`` here then makes every file
        durable before any bin names them (DESIGN §5.1). With ``link_copies`` a
        page whose copy was just written becomes a hard link to it. The workers
        inherit the batch through fork; only digests, counts and skips come back.
        """
        _BATCH.update(root=str(self.storage.root), items=items, link=self.link_copies)
        step = -(-len(items) // (processes * 4))
        ranges = [(i, min(i + step, len(items))) for i in range(0, len(items), step)]
        try:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                results = [r for part in pool.map(_prepare_range, ranges) for r in part]
        finally:
            _BATCH.clear()
        written = 0
        for (path, bin_name, data, current), result in zip(items, results, strict=True):
            if isinstance(result, Skipped):
                report.skipped.append(result)
                continue
            digest, unverifiable, copy_written = result
            written += 1 + copy_written
            if unverifiable:
                report.unverifiable[path] = unverifiable
            if _same(current, digest, len(data)):
                report.unchanged += 1
                if copy_written:
                    report.repaired.append(path)
                continue
            changes.setdefault(bin_name, {})[path] = _target(digest, len(data))
            (report.added if current is None else report.changed).append(path)
        if written:
            self.storage.writes += written
            sync_filesystem(self.storage.root)  # pages and copies durable before any bin

    def refresh(self, within: timedelta) -> RefreshReport:
        """Re-sign online roles expiring within ``within`` (bumping their versions)."""
        with self.transaction() as state:
            deadline = self.clock() + within
            stale_bins: _Changes = {
                name: {}
                for name in state.bin_names()
                if parse_expires(state.bin_signed(self.storage, name)["expires"]) <= deadline
            }
            report = RefreshReport(resigned=sorted(stale_bins))
            if (
                stale_bins
                or state.snapshot_expires <= deadline
                or state.timestamp_expires <= deadline
            ):
                publish_report = PublishReport()
                self._commit(state, stale_bins, publish_report)
                report.resigned += ["snapshot", "timestamp"]
                report.snapshot_version = publish_report.snapshot_version
                report.timestamp_version = publish_report.timestamp_version
            return report

    def commit(
        self,
        state: PublishedState,
        changes: _Changes,
        offline: Sequence[tuple[str, bytes]] = (),
    ) -> PublishReport:
        """Write the bins in ``changes`` (``{}`` re-signs a bin as is), a snapshot, a timestamp.

        For key ceremonies (``rotation.py``) and ``rebin.py``, which put new
        root/targets/bins into ``state`` first, so the online roles are signed with
        the keys they name. ``offline`` metadata files (``(file name, bytes)``, e.g. a
        new ``N.bins.json``) are written after the bins and before the snapshot. The
        caller holds the publisher lock (see :meth:`transaction`).
        """
        report = PublishReport()
        self._commit(state, changes, report, offline)
        return report

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PublishedState]:
        """The publisher lock and the published state, for one change of the repository.

        Everything that writes metadata runs inside one: publish, refresh, rebin.
        The state is dropped (re-read next time) if the body raises.
        """
        with (
            publisher_lock(self.lock_file, self.wait_for_lock, self.on_lock_wait),
            _gc_paused(),
            self._session() as state,
        ):
            yield state

    # -- state -------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[PublishedState]:
        """The published state, under the lock; forgotten if anything goes wrong.

        A marker in the state directory says a publish may have left temp files:
        only then is the whole tree swept for them (a full walk of ``simple/``
        costs seconds at PyPI scale, far too much for every one-project publish).

        The marker is not fsynced. It is a clean-up hint, not part of the safety
        argument: temp files are never named by any metadata, so one left behind
        cannot make the repository invalid or hide an update (DESIGN §5.2 holds
        without it). If the process dies, the kernel still has the marker, so the
        next publish sweeps. Only a power cut between creating the marker and the
        first durable write could lose it, and then what is left is a stray
        ``.tuf-pypi-tmp-*`` file (public bytes, never referenced) until the next
        sweep: after any later crash, or a ceremony apply. Not syncing saves one
        fsync (~0.5 ms, a twentieth of a one-project publish) on every publish.
        """
        marker = self.state_dir / f"publish-dirty-{_repo_key(self.storage.root)}"
        if marker.exists():
            self.storage.remove_stale_temp_files()
        else:
            _touch(marker)
        try:
            yield self._load_state()
        except BaseException:
            self._state = None
            raise
        marker.unlink()

    def _load_state(self) -> PublishedState:
        state = self._state
        if state is not None:
            try:
                current = self.storage.read_metadata(layout.metadata_filename("timestamp"))
            except StorageError:
                current = None
            if current == state.timestamp_bytes:
                return state
        self._state = load_state(self.storage)
        return self._state

    # -- scanning ----------------------------------------------------------------

    def _collect_selected(
        self,
        state: PublishedState,
        names: list[str],
        report: PublishReport,
        progress: Progress | None,
    ) -> _Changes:
        """Per bin, the target paths to set (a target dict) or delete (None)."""
        changes: _Changes = {}
        writes: list[tuple[Path, bytes]] = []
        for done, project in enumerate(names, 1):
            for form, page in read_project(self.storage, project):
                path = f"{layout.SIMPLE_DIR}/{project}/{form}"
                bin_name = state.bin_of(path)
                current = state.bin_targets(self.storage, bin_name).get(path)
                if isinstance(page, Skipped):
                    report.skipped.append(page)  # the signed version (if any) stays
                elif page is None:
                    if current is not None:
                        changes.setdefault(bin_name, {})[path] = None
                        report.removed.append(path)
                else:
                    self._stage(page, current, bin_name, changes, report, writes, page.data)
            if progress:
                progress(done, len(names))
        write_many(self.storage, writes)  # page copies before any bin (write order)
        return changes

    def _stage(
        self,
        page: Page,
        current: dict | None,
        bin_name: str,
        changes: _Changes,
        report: PublishReport,
        writes: list[tuple[Path, bytes]],
        data: bytes,
    ) -> None:
        if page.unverifiable:
            report.unverifiable[page.path] = page.unverifiable
        copy = self.storage.root / layout.SIMPLE_DIR / page.project
        copy = copy / layout.consistent_name(page.form, page.sha256)
        if _same(current, page.sha256, page.length):
            report.unchanged += 1
            if not copy.is_file() or copy.stat().st_size != page.length:
                writes.append((copy, data))
                report.repaired.append(page.path)
            return
        writes.append((copy, data))
        changes.setdefault(bin_name, {})[page.path] = _target(page.sha256, page.length)
        (report.added if current is None else report.changed).append(page.path)

    def _collect_full(
        self, state: PublishedState, report: PublishReport, progress: Progress | None
    ) -> tuple[_Changes, Callable[[], None] | None]:
        """Every page under simple/: hashed with the stat cache, in parallel."""
        names: list[str] = []
        symlinked: set[str] = set()
        for entry in project_dirs(self.storage, symlinked):
            if isinstance(entry, Skipped):
                report.skipped.append(entry)
            else:
                names.append(entry)
        cache = PageCache(self.state_dir, self.storage.root)
        if self.page_cache:
            cache.load()
        careful = instrumented(self.storage)

        def write(path: str, data: bytes) -> None:
            if careful:
                self.storage.write_atomic(Path(path), data)
            else:
                fast_write(path, data)

        changes: _Changes = {}
        scanned: list[ScannedPage] = []
        fast_copies = 0
        results = scan_projects(
            self.storage,
            names,
            cache.entries,
            write=write,
            bin_of=state.bin_of,
            processes=1 if careful else self.processes,
            progress=progress,
            link=self.link_copies and not careful,
            symlinked=symlinked,
        )
        storage = self.storage
        bin_of, bin_targets = state.bin_of, state.bin_targets
        for result in results:
            if type(result) is ScannedPage:  # the usual case first: 1.5 M times at PyPI scale
                scanned.append(result)
                path, bin_name, sha256, length, unverifiable, _key, copy_written, edited = result
                if edited:
                    report.edited_in_place.append(path)
                current = bin_targets(storage, bin_name).get(path)
                if copy_written and not careful:
                    fast_copies += 1
                if unverifiable:
                    report.unverifiable[path] = unverifiable
                if _same(current, sha256, length):
                    report.unchanged += 1
                    if copy_written:
                        report.repaired.append(path)
                    continue
                changed = changes.get(bin_name)
                if changed is None:
                    changed = changes[bin_name] = {}
                changed[path] = _target(sha256, length)
                (report.added if current is None else report.changed).append(path)
            elif isinstance(result, Skipped):
                report.skipped.append(result)  # the signed version (if any) stays
            else:  # (project, form): no such page
                path = f"{layout.SIMPLE_DIR}/{result[0]}/{result[1]}"
                bin_name = bin_of(path)
                if path in bin_targets(storage, bin_name):
                    changes.setdefault(bin_name, {})[path] = None
                    report.removed.append(path)
        storage.writes += fast_copies
        if fast_copies:
            sync_filesystem(storage.root)  # copies durable before any bin names them
        present = set(names)
        for bin_name in state.bin_names():
            for path in state.bin_targets(storage, bin_name):
                if path.split("/", 2)[1] not in present:
                    changes.setdefault(bin_name, {})[path] = None
                    report.removed.append(path)
        return changes, (functools.partial(cache.save, scanned) if self.page_cache else None)

    # -- writing -----------------------------------------------------------------

    def _signers_for(
        self, keyids: list[str], keys: Mapping[str, Key], threshold: int, role: str
    ) -> list[Signer]:
        """Signers for ``threshold`` of ``keyids``, opened once per publisher."""
        signers = []
        for keyid in keyids:
            if keyid not in self._signers:
                self._signers[keyid] = self.keys.signer_for(keys[keyid], role)
            signers.append(self._signers[keyid])
            if len(signers) == threshold:
                break
        return signers

    def _commit(
        self,
        state: PublishedState,
        changes: _Changes,
        report: PublishReport,
        offline: Sequence[tuple[str, bytes]] = (),
        reuse_rendered: bool = False,
    ) -> None:
        """Write new bins, then ``offline`` files, the snapshot, the timestamp (in that order).

        Bins and the snapshot are serialized once, as canonical JSON, and signed as
        bytes; the state is updated in place (and dropped by the session on error).
        With ``reuse_rendered``, each bin's rendered targets are kept in the state
        and only the changed ones rendered again (``canonical.bin_signed``): for
        batches and one-project publishes, which re-sign whole bins to change a
        few targets in each (~150 bytes per target kept in memory).
        """
        now = self.clock()
        storage = self.storage
        succinct = state.succinct
        bin_signers = self._signers_for(
            succinct.keyids, state.bin_keys, succinct.threshold, "bin-n"
        )
        bin_expires = canonical.format_expires(md_builder.expires_at(now, self.expiry.bin_n))
        meta = dict(state.meta)
        files: list[tuple[Path, bytes]] = []
        for bin_name in sorted(changes):
            signed = state.bin_signed(storage, bin_name)
            targets = signed["targets"]
            changed = changes[bin_name]
            # Texts rendered for this very targets dict: only this loop changes
            # targets, and it always passes the changed paths along (or forgets).
            kept = state.rendered.pop(bin_name, None)
            texts = None
            if reuse_rendered:
                texts = kept[1] if kept is not None and kept[0] is targets else {}
                state.rendered[bin_name] = (targets, texts)
            for path, target in changed.items():
                if target is None:
                    targets.pop(path, None)
                else:
                    targets[path] = target
            version = state.version_of(bin_name) + 1
            signed["version"] = version
            signed["expires"] = bin_expires
            data = _bin_bytes(signed, texts, changed)
            files.append(
                (
                    storage.metadata_dir / layout.metadata_filename(bin_name, version),
                    canonical.metadata_file(data, canonical.sign_bytes(data, bin_signers)),
                )
            )
            meta[layout.metadata_filename(bin_name)] = version
            report.bins_signed.append(bin_name)
        write_many(storage, files)
        for filename, data in offline:
            storage.write_metadata(filename, data)

        root = state.root
        keys, threshold = md_builder.role_keys(root, "snapshot")
        snapshot_version = state.snapshot_version + 1
        snapshot_expires = md_builder.expires_at(now, self.expiry.snapshot)
        signed_bytes = canonical.snapshot_signed(
            snapshot_version,
            canonical.format_expires(snapshot_expires),
            meta,
            changed=[layout.metadata_filename(name) for name in changes],
        )
        signers = self._signers_for([k.keyid for k in keys], root.keys, threshold, "snapshot")
        snapshot_bytes = canonical.metadata_file(
            signed_bytes, canonical.sign_bytes(signed_bytes, signers)
        )
        storage.write_metadata(
            layout.metadata_filename("snapshot", snapshot_version), snapshot_bytes
        )

        keys, threshold = md_builder.role_keys(root, "timestamp")
        timestamp_version = state.timestamp_version + 1
        timestamp = md_builder.new_timestamp(
            snapshot_bytes, snapshot_version, timestamp_version, now, self.expiry
        )
        md_builder.sign(
            timestamp, self._signers_for([k.keyid for k in keys], root.keys, threshold, "timestamp")
        )
        timestamp_bytes = md_builder.serialize(timestamp)
        storage.sync_dirs()
        storage.write_metadata(layout.metadata_filename("timestamp"), timestamp_bytes)

        state.meta = meta
        state.snapshot_version = snapshot_version
        state.snapshot_expires = snapshot_expires
        state.timestamp_version = timestamp_version
        state.timestamp_expires = timestamp.signed.expires
        state.timestamp_bytes = timestamp_bytes
        report.snapshot_version = snapshot_version
        report.timestamp_version = timestamp_version


_Changes = dict[str, dict[str, "dict | None"]]
_BIN_FIELDS = frozenset({"_type", "expires", "spec_version", "targets", "version"})


def _bin_bytes(signed: dict, texts: dict[str, str] | None, changed: Iterable[str]) -> bytes:
    if set(signed) == _BIN_FIELDS and signed["spec_version"] == canonical.SPEC_VERSION:
        return canonical.bin_signed(
            signed["version"], signed["expires"], signed["targets"], texts, changed
        )
    return canonical.encode_canonical(signed)


def _target(sha256: str, length: int) -> dict:
    return {"hashes": {"sha256": sha256}, "length": length}


def _same(current: dict | None, sha256: str, length: int) -> bool:
    if current is None:
        return False
    hashes = current.get("hashes")
    return (
        isinstance(hashes, dict)
        and hashes.get("sha256") == sha256
        and current.get("length") == length
    )


def _page_from_bytes(path: str, data: bytes) -> Page | Skipped:
    target = layout.parse_page_target(path)
    if len(data) > pages.MAX_PAGE_BYTES:
        return Skipped(path, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")
    try:
        unverifiable = pages.check_page(data, target.form, path)
    except pages.PageError as e:
        return Skipped(path, e.reason)
    return Page(target.project, target.form, data, hashlib.sha256(data).hexdigest(), unverifiable)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the repository is changed.

    A full publish keeps millions of small dicts and tuples alive until its
    commit, and every automatic collection walks all of them again: seconds at
    PyPI scale, for nothing, since publishing makes no reference cycles (reference
    counting frees everything as usual). Collection resumes when the change ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _repo_key(root: Path) -> str:
    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]


def _touch(path: Path) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _project(name: str) -> str:
    return layout.project_name(name.strip())


def _linked(copy: str, page: str) -> bool:
    """Make the page another name of the copy just written from its bytes (one file
    written instead of two); False where hard links fail (the caller writes)."""
    try:
        replace_with_link(copy, page)
    except OSError:
        return False
    return True


#: Pages per worker process below which a batch is prepared in this process.
_PARALLEL_PAGES = 128
# Set in the parent just before forking the batch workers, inherited by them.
_BATCH: dict = {}


def _prepare_range(bounds: tuple[int, int]) -> list[tuple[str, int, bool] | Skipped]:
    """Worker: parse, hash and write pages ``items[start:stop]`` of the current batch."""
    root: str = _BATCH["root"]
    items = _BATCH["items"]
    link: bool = _BATCH["link"]
    made: set[str] = set()
    out: list[tuple[str, int, bool] | Skipped] = []
    for path, _bin, data, current in items[bounds[0] : bounds[1]]:
        page = _page_from_bytes(path, data)
        if isinstance(page, Skipped):
            out.append(page)
            continue
        project_dir = f"{root}/{layout.SIMPLE_DIR}/{page.project}"
        if project_dir not in made:
            os.makedirs(project_dir, exist_ok=True)
            made.add(project_dir)
        copy = f"{project_dir}/{layout.consistent_name(page.form, page.sha256)}"
        write_copy = True
        if _same(current, page.sha256, page.length):
            try:
                st = os.stat(copy)
                write_copy = not stat.S_ISREG(st.st_mode) or st.st_size != page.length
            except OSError:
                write_copy = True
        if write_copy:
            fast_write(copy, data)
        if not (write_copy and link and _linked(copy, f"{root}/{path}")):
            fast_write(f"{root}/{path}", data)
        out.append((page.sha256, page.unverifiable, write_copy))
    return out
