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
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Metadata, Root

from .. import layout, pages
from ..clock import utcnow
from ..keys import KeyDirectory
from . import canonical
from . import metadata as md_builder
from .changeset import Absent, ChangeSet, Observed, classify, next_versions
from .metadata import DEFAULT_EXPIRY, Expiry
from .pagecache import PageCache, scan_projects
from .scan import Page, Skipped, project_dirs, read_project
from .state import PublishedState, load_state, parse_expires
from .storage import RepositoryStorage, StorageError, VersionTaken, WriteKind, publisher_lock
from .workers import fork_pool

__all__ = ["Clock", "PublishReport", "Publisher", "RefreshReport", "utcnow"]

Clock = Callable[[], datetime]
#: Called as progress(done, total) while pages are scanned.
Progress = Callable[[int, int], None]


@dataclass
class PublishReport(ChangeSet):
    """What one publish did, for the CLI summary and for tests: its change set, and
    what was signed."""

    bins_signed: list[str] = field(default_factory=list)
    snapshot_version: int | None = None
    timestamp_version: int | None = None

    @property
    def wrote_metadata(self) -> bool:
        return self.timestamp_version is not None

    @classmethod
    def of(cls, cs: ChangeSet) -> PublishReport:
        """The report of a change set, before anything is signed."""
        return cls(**{f.name: getattr(cs, f.name) for f in fields(ChangeSet)})

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
        #: The bytes :meth:`_write_versioned` last wrote (the snapshot, for the timestamp).
        self._written = b""

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
            if selected is None:
                changes, save_cache = self._observe_all(state, progress)
            else:
                changes, save_cache = self._observe_projects(state, selected, progress), None
            # Rendered targets are worth keeping only when few change per bin.
            report = self._commit(state, changes, reuse_rendered=selected is not None)
            if save_cache is not None:
                save_cache()  # only once what it describes is published
            return report

    def publish_pages(self, page_bytes: Mapping[str, bytes | None]) -> PublishReport:
        """Write and sign pages given in memory: ``{target path: bytes, or None to delete}``.

        The batch path of the queue daemon (and of ``scripts/bench``): each page is
        parsed strictly (a bad page is skipped and reported, its signed version and
        its file stay), written to ``simple/<project>/<form>`` with its consistent
        copy, and the whole batch is committed as one set of bins, one snapshot and
        one timestamp. Paths are validated before anything is written. Large
        batches are parsed and hashed in forked workers, which write nothing.
        """
        targets = {layout.parse_page_target(p).path: data for p, data in page_bytes.items()}
        with self.transaction() as state:
            storage = self.storage
            root = str(storage.root)
            paths = sorted(targets)
            observations: list[Observed | Absent | Skipped] = []
            items = [(path, targets[path]) for path in paths if targets[path] is not None]
            for path in paths:
                if targets[path] is None:
                    storage.delete(f"{root}/{path}")
                    observations.append(Absent(path))
            for (path, _data), checked in zip(items, self._check_pages(items), strict=True):
                if isinstance(checked, Skipped):
                    observations.append(checked)
                    continue
                page = Page(*checked)
                observations.append(_observed(state, page, self._write_page(root, path, page)))
            changes = classify(observations, self._current(state), state.bin_of)
            return self._commit(state, changes, reuse_rendered=True)

    def _write_page(self, root: str, path: str, page: Page) -> bool:
        """A batch page and its copy (or, with ``link_copies``, the page as a link to
        the copy just written). True if the copy had to be written."""
        storage = self.storage
        copy = f"{root}/{layout.SIMPLE_DIR}/{page.project}/"
        copy += layout.consistent_name(page.form, page.sha256)
        written = storage.put(WriteKind.COPY, copy, page.data)
        if written and self.link_copies:
            try:
                storage.link_page(copy, f"{root}/{path}")
                return written
            except OSError:
                pass  # no hard links here: write the page
        storage.put(WriteKind.PAGE, f"{root}/{path}", page.data)
        return written

    def _check_pages(self, items: list[tuple[str, bytes]]) -> list[tuple | Skipped]:
        """Each page parsed strictly and hashed: ``Page`` fields, or Skipped. Pure.

        Large batches go to forked workers, which get the batch as their pool
        initializer's argument (inherited through fork, not pickled) and send back
        only digests and counts; they write nothing, so every write of the batch
        goes through the storage in this process.
        """
        processes = min(self.processes, len(items) // _PARALLEL_PAGES)
        if processes <= 1:
            return [_checked(path, data) for path, data in items]
        step = -(-len(items) // (processes * 4))
        ranges = [(i, min(i + step, len(items))) for i in range(0, len(items), step)]
        with fork_pool(processes, _inherit_batch, (items,)) as pool:
            parts = pool.map(_check_range, ranges)
        out: list[tuple | Skipped] = []
        for (start, _stop), part in zip(ranges, parts, strict=True):
            for offset, result in enumerate(part):
                if isinstance(result, Skipped):
                    out.append(result)
                else:
                    path, data = items[start + offset]
                    target = layout.parse_page_target(path)
                    out.append((target.project, target.form, data, result[0], result[1]))
        return out

    def refresh(self, within: timedelta) -> RefreshReport:
        """Re-sign online roles expiring within ``within`` (bumping their versions)."""
        with self.transaction() as state:
            deadline = self.clock() + within
            changes = ChangeSet()
            for name in state.bin_names():
                if parse_expires(state.bin_signed(self.storage, name)["expires"]) <= deadline:
                    changes.resign(name)
            report = RefreshReport(resigned=sorted(changes.bins))
            if (
                changes.bins
                or state.snapshot_expires <= deadline
                or state.timestamp_expires <= deadline
            ):
                committed = self._commit(state, changes, force=True)
                report.resigned += ["snapshot", "timestamp"]
                report.snapshot_version = committed.snapshot_version
                report.timestamp_version = committed.timestamp_version
            return report

    def commit(self, state: PublishedState, changes: ChangeSet) -> PublishReport:
        """Apply ``changes`` to ``state`` and publish them, with a snapshot and a timestamp.

        For key ceremonies (``rotation.py``), ``rebin.py`` and ``restore_bins``, which
        say in ``changes`` what they want (targets, replaced and retired bins, new
        offline roles) and leave versions and write order to :meth:`_commit`. The
        caller is inside :meth:`transaction`, which gave it ``state``.

        A new root alone that keeps the snapshot and timestamp keys changes nothing
        the snapshot lists: it is written without a new snapshot and timestamp.
        """
        root = changes.roles.get("root")
        if (
            root is not None
            and changes.roles.keys() == {"root"}
            and not changes.bins
            and _online_keyids(root.signed) == _online_keyids(state.root)
        ):
            state.adopt(changes.roles)
            _write_roles(self.storage, changes.roles)
            self.storage.barrier()
            return PublishReport.of(changes)
        return self._commit(state, changes, force=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PublishedState]:
        """The publisher lock and the published state, for one change of the repository.

        Everything that writes metadata runs inside one: publish, refresh, rebin,
        restore.
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

    # -- observing pages (the sources) --------------------------------------------

    def _current(self, state: PublishedState) -> Callable[[str, str], dict | None]:
        storage, bin_targets = self.storage, state.bin_targets
        return lambda bin_name, path: bin_targets(storage, bin_name).get(path)

    def _observe_projects(
        self, state: PublishedState, names: list[str], progress: Progress | None
    ) -> ChangeSet:
        """Named projects: each page read (the careful path), its copy made."""
        root = str(self.storage.root)
        observations: list[Observed | Absent | Skipped] = []
        for done, project in enumerate(names, 1):
            for form, page in read_project(self.storage.root, project):
                path = f"{layout.SIMPLE_DIR}/{project}/{form}"
                if page is None:
                    observations.append(Absent(path))
                elif isinstance(page, Skipped):
                    observations.append(page)
                else:
                    copy = f"{root}/{layout.SIMPLE_DIR}/{project}/"
                    copy += layout.consistent_name(form, page.sha256)
                    written = self.storage.put(WriteKind.COPY, copy, page.data)
                    observations.append(_observed(state, page, written))
            if progress:
                progress(done, len(names))
        return classify(observations, self._current(state), state.bin_of)

    def _observe_all(
        self, state: PublishedState, progress: Progress | None
    ) -> tuple[ChangeSet, Callable[[], None] | None]:
        """Every page under simple/: hashed with the stat cache, in parallel."""
        names: list[str] = []
        symlinked: set[str] = set()
        changes = ChangeSet()
        for entry in project_dirs(self.storage, symlinked):
            if isinstance(entry, Skipped):
                changes.skipped.append(entry)
            else:
                names.append(entry)
        cache = PageCache(self.state_dir, self.storage.root)
        if self.page_cache:
            cache.load()
        scanned: list[Observed] = []

        def kept(results: Iterable[Observed | Absent | Skipped]):
            for result in results:
                if type(result) is Observed:
                    scanned.append(result)  # type: ignore[arg-type]
                yield result

        results = scan_projects(
            self.storage,
            names,
            cache.entries,
            bin_of=state.bin_of,
            processes=self.processes,
            progress=progress,
            link=self.link_copies,
            symlinked=symlinked,
        )
        storage = self.storage
        present = set(names)
        classify(
            kept(results),
            self._current(state),
            state.bin_of,
            signed=(
                (name, path)
                for name in state.bin_names()
                for path in state.bin_targets(storage, name)
            ),
            present=present.__contains__,
            into=changes,
        )
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

    def _role_signers(self, root: Root, role: str) -> list[Signer]:
        keys, threshold = md_builder.role_keys(root, role)
        return self._signers_for([k.keyid for k in keys], root.keys, threshold, role)

    def _commit(
        self,
        state: PublishedState,
        changes: ChangeSet,
        reuse_rendered: bool = False,
        force: bool = False,
    ) -> PublishReport:
        """The transaction's writes, in DESIGN §5 order, and the version numbers.

        Page copies are already written (by the sources); then: barrier, bins,
        the new offline roles of ``changes`` (whose keys and delegation the bins
        and the snapshot are signed with), the snapshot, barrier, ``timestamp.json``.
        With nothing to sign (and not ``force``) only the barrier runs, so pages
        written by a batch are durable before the caller settles it.

        Versions are one more than the published ones (for replaced bins, than any
        of that name: :func:`_first_versions`); a versioned file that is already on
        disk with other bytes (a deposed publisher's, or a crashed run's) is never
        replaced: that role is signed at the next version instead
        (:class:`VersionTaken`). The timestamp replaces only the bytes this
        transaction started from (:class:`ConcurrentWriter` otherwise).

        Bins and the snapshot are serialized once, as canonical JSON, and signed as
        bytes; the state is updated in place (and dropped by the session on error).
        With ``reuse_rendered``, each bin's rendered targets are kept in the state
        and only the changed ones rendered again (``canonical.bin_signed``): for
        batches and one-project publishes, which re-sign whole bins to change a
        few targets in each (~150 bytes per target kept in memory).
        """
        report = PublishReport.of(changes)
        storage = self.storage
        storage.barrier()  # page copies durable before any bin names them
        if not changes.bins and not changes.roles and not force:
            return report
        now = self.clock()
        state.adopt(changes.roles)
        succinct, root = state.succinct, state.root
        # Every signer, with the keys the new roles name, before anything is written.
        bin_signers = self._signers_for(
            succinct.keyids, state.bin_keys, succinct.threshold, "bin-n"
        )
        snapshot_signers = self._role_signers(root, "snapshot")
        timestamp_signers = self._role_signers(root, "timestamp")
        bin_expires = canonical.format_expires(md_builder.expires_at(now, self.expiry.bin_n))
        first_versions = _first_versions(state, changes, storage)
        meta = dict(state.meta)
        for bin_name in sorted(changes.bins):
            if bin_name in changes.replaced:  # exactly these targets: nothing to apply
                signed = canonical.bin_dict(0, bin_expires, changes.bins[bin_name])
                state.bins[bin_name] = signed
                changed = {}
            else:
                signed = state.bin_signed(storage, bin_name)
                changed = changes.bins[bin_name]
            targets = signed["targets"]
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
            signed["expires"] = bin_expires

            def sign_bin(version: int, signed=signed, texts=texts, changed=changed) -> bytes:
                signed["version"] = version
                data = _bin_bytes(signed, texts, changed)
                return canonical.metadata_file(data, canonical.sign_bytes(data, bin_signers))

            version = self._write_versioned(
                WriteKind.BIN, bin_name, first_versions[bin_name], sign_bin
            )
            meta[layout.metadata_filename(bin_name)] = version
            report.bins_signed.append(bin_name)
        _write_roles(storage, changes.roles)

        snapshot_expires = md_builder.expires_at(now, self.expiry.snapshot)
        changed_files = [layout.metadata_filename(name) for name in changes.bins]

        def sign_snapshot(version: int) -> bytes:
            signed_bytes = canonical.snapshot_signed(
                version, canonical.format_expires(snapshot_expires), meta, changed=changed_files
            )
            return canonical.metadata_file(
                signed_bytes, canonical.sign_bytes(signed_bytes, snapshot_signers)
            )

        snapshot_version = self._write_versioned(
            WriteKind.SNAPSHOT, "snapshot", state.snapshot_version + 1, sign_snapshot
        )
        snapshot_bytes = self._written
        storage.barrier()  # everything the timestamp leads to is durable first

        timestamp_version = state.timestamp_version + 1
        timestamp = md_builder.new_timestamp(
            snapshot_bytes, snapshot_version, timestamp_version, now, self.expiry
        )
        md_builder.sign(timestamp, timestamp_signers)
        timestamp_bytes = md_builder.serialize(timestamp)
        storage.put(
            WriteKind.TIMESTAMP,
            storage.metadata_dir / layout.metadata_filename("timestamp"),
            timestamp_bytes,
            expect=state.timestamp_bytes,
        )
        storage.sync_dirs()

        state.meta = meta
        state.snapshot_version = snapshot_version
        state.snapshot_expires = snapshot_expires
        state.timestamp_version = timestamp_version
        state.timestamp_expires = timestamp.signed.expires
        state.timestamp_bytes = timestamp_bytes
        report.snapshot_version = snapshot_version
        report.timestamp_version = timestamp_version
        return report

    def _write_versioned(
        self, kind: WriteKind, role: str, version: int, sign: Callable[[int], bytes]
    ) -> int:
        """Write ``N.<role>.json`` at ``version``, or the first version above it whose
        name is free (or holds these very bytes). Returns the version written."""
        for _attempt in range(_MAX_TAKEN):
            data = sign(version)
            path = self.storage.metadata_dir / layout.metadata_filename(role, version)
            try:
                self.storage.put(kind, path, data)
            except VersionTaken:
                version += 1  # another publisher's file: never replaced
                continue
            self._written = data
            return version
        raise StorageError(
            f"{role}: {_MAX_TAKEN} versions after the published one are already taken in "
            f"{self.storage.metadata_dir}; another publisher is writing this repository"
        )


#: Versions of one role tried past files that other publishers left.
_MAX_TAKEN = 64
_BIN_FIELDS = frozenset({"_type", "expires", "spec_version", "targets", "version"})
#: Offline roles in the order a commit writes them. Root last: clients look for
#: ``N+1.root.json`` without any snapshot naming it, so it appears as late as it can.
_ROLE_ORDER = ("targets", layout.BINS_ROLE, "root")


def _online_keyids(root: Root) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(root.roles[r].keyids) for r in ("snapshot", "timestamp"))


def _first_versions(
    state: PublishedState, changes: ChangeSet, storage: RepositoryStorage
) -> dict[str, int]:
    """The version each bin of ``changes`` is signed at (or above, when taken).

    One more than the published version; a replaced bin (of a new delegation) goes
    above every version its name ever had, in the snapshot or on disk, since names
    come back (:func:`changeset.next_versions`). Only then is ``tuf/`` listed.
    """
    first = {n: state.version_of(n) + 1 for n in changes.bins if n not in changes.replaced}
    if changes.replaced:
        published = {layout.role_of_metadata_filename(f): v for f, v in state.meta.items()}
        first.update(next_versions(changes.replaced, published, storage.bin_versions()))
    return first


def _write_roles(storage: RepositoryStorage, roles: Mapping[str, Metadata]) -> None:
    """Write new offline roles, each as ``N.role.json`` (and root also as ``root.json``)."""
    for role in _ROLE_ORDER:
        if role in roles:
            data = md_builder.serialize(roles[role])
            storage.write_metadata(layout.metadata_filename(role, roles[role].signed.version), data)
            if role == "root":
                storage.write_metadata(layout.metadata_filename(role), data)


def _bin_bytes(signed: dict, texts: dict[str, str] | None, changed: Iterable[str]) -> bytes:
    if set(signed) == _BIN_FIELDS and signed["spec_version"] == canonical.SPEC_VERSION:
        return canonical.bin_signed(
            signed["version"], signed["expires"], signed["targets"], texts, changed
        )
    return canonical.encode_canonical(signed)


def _observed(state: PublishedState, page: Page, copy_written: bool) -> Observed:
    """What a source read or received, for :func:`changeset.classify` (not cacheable)."""
    path = page.path
    return Observed(
        path, state.bin_of(path), page.sha256, page.length, page.unverifiable, None, copy_written
    )


def _checked(path: str, data: bytes) -> tuple | Skipped:
    """A batch page parsed strictly and hashed: ``Page`` fields, or why it is skipped."""
    target = layout.parse_page_target(path)
    if len(data) > pages.MAX_PAGE_BYTES:
        return Skipped(path, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")
    try:
        unverifiable = pages.check_page(data, target.form, path)
    except pages.PageError as e:
        return Skipped(path, e.reason)
    return (target.project, target.form, data, hashlib.sha256(data).hexdigest(), unverifiable)


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


#: Pages per worker process below which a batch is checked in this process.
_PARALLEL_PAGES = 128
#: The batch a forked checker was started with (set in the child only, by the pool
#: initializer, from the argument the parent passed it).
_INHERITED: list[list[tuple[str, bytes]]] = []


def _inherit_batch(items: list[tuple[str, bytes]]) -> None:
    _INHERITED[:] = [items]


def _check_range(bounds: tuple[int, int]) -> list[tuple[str, int] | Skipped]:
    """Worker: parse and hash pages ``items[start:stop]``; digests and counts only."""
    out: list[tuple[str, int] | Skipped] = []
    for path, data in _INHERITED[0][bounds[0] : bounds[1]]:
        checked = _checked(path, data)
        out.append(checked if isinstance(checked, Skipped) else (checked[3], checked[4]))
    return out
