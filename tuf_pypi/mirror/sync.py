"""Mirror sync: copy a signed index, or part of it, verifying everything before serving it.

A mirror is a dumb, static copy of the upstream's signed files: the same ``tuf/``
metadata byte for byte, the same ``simple/<p>/<sha256>.index.*`` page copies, and the
distribution files under ``packages/``. Clients verify it exactly as they verify the
upstream, from their own pinned root, so the mirror holds no keys and is trusted with
nothing. The sync verifies everything anyway, so a tampered upstream can never turn a
good mirror into one that fails all of its clients.

Order of work, so the mirror's clients never see a half-synced state:

1. verify the upstream's metadata with python-tuf's ``TrustedMetadataSet`` (the checks
   ngclient makes: the root chain, rollback, freeze, mix-and-match, signatures),
   starting from the mirror's own timestamp and snapshot as the previous trusted state;
2. per project with a new page: fetch the page and verify it against its bin, download
   its files and verify them against the page, write the files, *then* the page copy
   (so a page copy on the mirror means its files are there too);
3. write the new role files, the snapshot and new root versions, and ``timestamp.json``
   last. Until that rename nothing new is reachable: a failure before it leaves the
   mirror serving its previous, valid state (``tuf-pypi gc`` removes what it left);
4. update the live pages ``simple/<p>/index.*`` for installers that do not use TUF.

Incremental: role files whose version did not change and page copies already on the
mirror are not fetched again. The mirror's own metadata says what it has; the state
directory only remembers which projects the last complete sync covered.

:func:`~.overlay.overlay_mirror` (:mod:`.overlay`) runs this same sync into an existing
bandersnatch ``web/`` tree: metadata and page copies for the projects bandersnatch has,
and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import tuf
from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    EqualVersionNumberError,
    ExpiredMetadataError,
    RepositoryError,
)
from tuf.api.metadata import Metadata, Root, SuccinctRoles, TargetFile, Targets
from tuf.ngclient.config import EnvelopeType

from .. import layout
from ..client.errors import (
    InvalidPageError,
    NoHashError,
    Phase,
    SetupError,
    VerificationError,
    from_tuf,
)
from ..client.fetcher import BoundedFetcher
from ..client.files import ExpectedFile, fetch_file
from ..client.limits import Limits
from ..client.mirrors import Mirror, file_urls
from ..clock import utcnow
from ..pages import FileLink, PageError, parse_page
from .plan import Coverage, changed_roles, check_version, packages_path, page_copy_path
from .tree import LocalState, MirrorTree, StateFile, sync_lock

#: python-tuf's major version this module is tested with (pyproject pins ``tuf>=7,<8``).
#: It uses ngclient's *private* verification core, which may change in any major.
TESTED_TUF_MAJOR = 7


def _incompatible_tuf(found: str) -> str:
    return (
        f"tuf-pypi mirror sync is tested with python-tuf {TESTED_TUF_MAJOR}.x, whose "
        f"private TrustedMetadataSet it uses; python-tuf {found} is installed: install "
        f"'tuf>={TESTED_TUF_MAJOR},<{TESTED_TUF_MAJOR + 1}' (or a tuf-pypi release "
        f"tested with python-tuf {found})"
    )


# ngclient's verification core: bytes in, verified metadata out, no I/O (it is what
# Updater runs on). The sync needs every role file and its exact bytes, where an Updater
# loads only the bins it looks a target up in. It is private python-tuf API, so the
# major version is pinned and checked (check_tuf_version).
try:
    from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
except ImportError as exc:  # pragma: no cover - only with an untested python-tuf
    raise ImportError(_incompatible_tuf(tuf.__version__)) from exc

__all__ = [
    "TESTED_TUF_MAJOR",
    "Progress",
    "SyncOptions",
    "SyncReport",
    "check_tuf_version",
    "default_state_dir",
    "sync_mirror",
]

#: Called with one line of progress at a time (the CLI prints them on stderr).
Progress = Callable[[str], None]
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass(frozen=True)
class SyncOptions:
    """What a sync copies, and how."""

    #: Normalized project names to mirror; None for every project of the index.
    projects: frozenset[str] | None = None
    #: Download the distribution files (and PEP 658 metadata files) pages link to.
    packages: bool = True
    #: Write ``simple/<p>/index.*`` and the root listing for installers without TUF.
    live_pages: bool = True
    #: Write ``N.<role>.json.gz`` siblings, for nginx's gzip_static.
    compress: bool = True
    #: Without ``packages``: list page links whose files the mirror lacks (overlay).
    check_files: bool = False
    #: Projects (and bins) fetched at once.
    jobs: int = 8
    #: The lock and the last sync's coverage (default: :func:`default_state_dir`).
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise SetupError(f"jobs must be at least 1, not {self.jobs}")


@dataclass
class SyncReport:
    """What one sync did: for the summary line, ``--json`` and tests."""

    upstream: str
    #: Timestamp version the mirror served before, and serves now.
    previous_timestamp: int | None = None
    timestamp: int | None = None
    snapshot: int | None = None
    roots: list[int] = field(default_factory=list)
    #: Root versions below the trusted one that the mirror lacks (never copied: they
    #: cannot be verified from it; clients pinned to them cannot update here).
    roots_not_copied: list[int] = field(default_factory=list)
    #: Metadata files written under tuf/ (roles and snapshot; not roots, not timestamp).
    roles: list[str] = field(default_factory=list)
    #: Page copies written: ``simple/<p>/<sha256>.index.*``.
    pages: list[str] = field(default_factory=list)
    #: Files written under packages/, and their total size.
    files: list[str] = field(default_factory=list)
    file_bytes: int = 0
    #: Files the pages list that were already on the mirror.
    files_present: int = 0
    live_pages_removed: list[str] = field(default_factory=list)
    #: Links without a sha256: no client can verify them, so they were not copied.
    unverifiable: list[str] = field(default_factory=list)
    #: Links outside any packages/ tree: clients fetch those from the link's own URL.
    outside_packages: list[str] = field(default_factory=list)
    #: Overlay: files signed pages list that the tree does not have (yet).
    missing_files: list[str] = field(default_factory=list)

    @property
    def switched(self) -> bool:
        """True when the mirror now serves a newer timestamp than before."""
        return self.timestamp != self.previous_timestamp

    def to_dict(self) -> dict[str, object]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**data, "switched": self.switched}


def sync_mirror(
    upstream: str,
    dest: Path,
    *,
    root: bytes | None = None,
    options: SyncOptions | None = None,
    limits: Limits | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    wait_for_lock: bool = True,
) -> SyncReport:
    """Bring the mirror at ``dest`` up to date with the index at ``upstream``.

    ``root`` is the pinned root to trust: required for the first sync, after which
    the newest root the mirror has (verified when it was copied) is the anchor.
    Raises a :class:`~tuf_pypi.client.ClientError` naming what failed; the mirror
    then still serves its previous state.
    """
    check_tuf_version()
    options = options or SyncOptions()
    mirror = Mirror.at(upstream)
    tree = MirrorTree(dest)
    state_dir = Path(options.state_dir or default_state_dir(dest))
    if state_dir.resolve().is_relative_to(tree.root.resolve()):
        raise SetupError(
            f"state directory {state_dir} is inside the mirror {dest}: it would be served"
        )
    fetcher = BoundedFetcher(limits)
    try:
        waiting = None if progress is None else (lambda f: progress(f"waiting for the lock {f}..."))
        with sync_lock(state_dir, wait_for_lock, waiting):
            run = _Sync(mirror, tree, options, fetcher, now or utcnow())
            run.progress = progress or _quiet
            return run.run(root, StateFile(state_dir))
    finally:
        fetcher.close()


def check_tuf_version(version: str = tuf.__version__) -> None:
    """SetupError unless ``version`` is the python-tuf major this module is tested with.

    The sync verifies with python-tuf's private ``TrustedMetadataSet``; another major
    may change it without notice, so an untested one is refused, not half-used.
    """
    if version.split(".", 1)[0] != str(TESTED_TUF_MAJOR):
        raise SetupError(_incompatible_tuf(version))


def default_state_dir(dest: Path) -> Path:
    """``<parent>/.<name>.tuf-pypi``: beside the mirror, never inside it."""
    dest = Path(os.path.abspath(dest))
    return dest.parent / f".{dest.name}.tuf-pypi"


def _quiet(_line: str) -> None:
    pass


# -- one run ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rescan:
    """Projects to check even where their bin did not change: the last sync missed them."""

    all: bool
    projects: frozenset[str] = frozenset()

    @classmethod
    def needed(cls, previous: Coverage | None, wanted: Coverage) -> _Rescan:
        if previous is not None and previous.covers(wanted):
            return cls(False)
        if wanted.projects is None:
            return cls(True)
        if previous is None or previous.projects is None or wanted.packages > previous.packages:
            return cls(False, wanted.projects)
        return cls(False, wanted.projects - previous.projects)

    def __contains__(self, project: str) -> bool:
        return self.all or project in self.projects


@dataclass
class _Trusted:
    """The verified upstream metadata, and what differs from the mirror's."""

    tms: TrustedMetadataSet
    #: The upstream's base URL, for errors.
    source: str
    changed: set[str] = field(default_factory=set)

    def filename(self, role: str) -> str:
        """``N.<role>.json`` of a checked role name, at the version the snapshot gives."""
        meta = self.tms.snapshot.meta.get(f"{role}.json")
        if meta is None:
            raise VerificationError(
                f"{self.source}: role {role} is delegated, but snapshot "
                f"v{self.tms.snapshot.version} does not list it"
            )
        return _versioned_name(self.source, role, meta.version)


@dataclass(frozen=True)
class _Role:
    """A verified targets role of this sync."""

    md: Targets
    #: Its version is not the one the mirror served.
    changed: bool


@dataclass
class _Page:
    target_path: str
    target: TargetFile
    #: The last sync did not cover this project: check the files even if the copy is here.
    recheck: bool

    @property
    def copy(self) -> str:
        return page_copy_path(self.target_path, self.target.hashes["sha256"])


@dataclass
class _ProjectResult:
    pages: list[str] = field(default_factory=list)
    live: dict[str, bytes] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    file_bytes: int = 0
    files_present: int = 0
    unverifiable: list[str] = field(default_factory=list)
    outside_packages: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)


class _Sync:
    def __init__(
        self,
        mirror: Mirror,
        tree: MirrorTree,
        options: SyncOptions,
        fetcher: BoundedFetcher,
        now: datetime,
    ) -> None:
        self.mirror = mirror
        self.tree = tree
        self.options = options
        self.fetcher = fetcher
        self.limits = fetcher.limits
        self.now = now
        self.progress: Progress = _quiet
        self.report = SyncReport(upstream=mirror.url)
        #: tuf/ file name -> verified bytes to write, in _switch's order.
        self.metadata: dict[str, bytes] = {}
        self.newest_root = b""

    def run(self, pinned_root: bytes | None, state: StateFile) -> SyncReport:
        local = self.tree.local_state()
        trusted = self._verify_top_level(local, pinned_root)
        previous = state.load(self.mirror.url, local.timestamp_version)
        wanted = Coverage(self.options.projects, self.options.packages)
        rescan = _Rescan.needed(previous, wanted)
        roles = self._verify_targets_roles(trusted, rescan)
        pages = self._pages_to_sync(roles, rescan)
        self.progress(
            f"{self.mirror.url}: timestamp v{trusted.tms.timestamp.version}; "
            f"{len(self.metadata)} metadata files to write, {len(pages)} projects to sync"
        )
        results = self._sync_projects(pages)
        self._switch(trusted)
        self._update_live_pages(results, roles, local, rescan)
        state.save(self.mirror.url, self.report.timestamp, wanted)
        return self.report

    # -- metadata --------------------------------------------------------------------

    def _verify_top_level(self, local: LocalState, pinned_root: bytes | None) -> _Trusted:
        """The root chain, the timestamp and the snapshot, as ngclient's refresh does."""
        root = pinned_root or self._newest_local_root()
        try:
            tms = TrustedMetadataSet(root, EnvelopeType.METADATA)
        except (RepositoryError, ValueError) as exc:
            raise SetupError(f"the trusted root is not valid root metadata: {exc}") from exc
        tms.reference_time = self.now
        self.newest_root = root
        self._older_roots(root, tms.root.version)
        self._newer_roots(tms)

        trusted = _Trusted(tms, self.mirror.url)
        have_timestamp = self._verify_timestamp(tms, local)
        self._verify_snapshot(tms, local if have_timestamp else None)
        self.report.previous_timestamp = local.timestamp_version
        self.report.timestamp = tms.timestamp.version
        self.report.snapshot = tms.snapshot.version
        versions = {
            layout.role_of_metadata_filename(name): meta.version
            for name, meta in tms.snapshot.meta.items()
        }
        # What the mirror serves need not verify (keys may have rotated since): a role
        # read back from it is verified against the new snapshot before it is used.
        trusted.changed = set(changed_roles(local.versions, versions))
        return trusted

    def _verify_timestamp(self, tms: TrustedMetadataSet, local: LocalState) -> bool:
        """Load the mirror's timestamp, then the upstream's; True if the mirror's verified."""
        previous = local.timestamp is not None and _load_local(
            tms.update_timestamp, local.timestamp
        )
        name = layout.metadata_filename("timestamp")
        data = self._get(name, self.limits.timestamp_max_bytes, "refresh")
        try:
            tms.update_timestamp(data)
            self.metadata[name] = data
        except EqualVersionNumberError:
            pass  # the mirror serves this timestamp already
        except RepositoryError as exc:
            raise from_tuf(exc, "refresh", self.mirror.metadata_url + name) from exc
        return previous

    def _verify_snapshot(self, tms: TrustedMetadataSet, local: LocalState | None) -> None:
        """Load the mirror's snapshot (rollback protection), then the one the timestamp names."""
        meta = tms.timestamp.snapshot_meta
        if (
            local is not None
            and local.snapshot is not None
            and _load_local(lambda d: tms.update_snapshot(d, trusted=True), local.snapshot)
            and tms.snapshot.version == meta.version
        ):
            return  # the mirror has it
        name = _versioned_name(self.mirror.url, "snapshot", meta.version)
        data = self._get(name, meta.length or self.limits.snapshot_max_bytes, "refresh")
        try:
            tms.update_snapshot(data)
        except RepositoryError as exc:
            raise from_tuf(exc, "refresh", self.mirror.metadata_url + name) from exc
        # python-tuf compares versions with ==, for which True is 1: both must be ints.
        _versioned_name(self.mirror.url, "snapshot", tms.snapshot.version)
        self.metadata[name] = data

    def _newest_local_root(self) -> bytes:
        versions = self.tree.root_versions()
        data = (
            self.tree.read_metadata(layout.metadata_filename("root", versions[-1]))
            if versions
            else None
        )
        if data is None:
            raise SetupError(
                f"{self.tree.root} has no tuf/N.root.json yet: for the first sync, give the "
                "index's root.json (obtained out of band) with --root"
            )
        return data

    def _older_roots(self, trusted_root: bytes, version: int) -> None:
        """The trusted root itself, where the mirror lacks it; never the versions below.

        Roots older than the trusted one cannot be verified from it: a chain whose
        every root lists the real root keys *and* the forger's, threshold 1, signed by
        the forger alone, passes every check python-tuf makes and still ends exactly
        at the trusted root. So a mirror serves the root chain from the root it
        pinned on: pinning ``1.root.json`` copies every version, each verified by the
        one before it (:meth:`_newer_roots`).
        """
        have = set(self.tree.root_versions())
        if version not in have:
            self.metadata[layout.metadata_filename("root", version)] = trusted_root
        missing = [v for v in range(1, version) if v not in have]
        self.report.roots_not_copied = missing
        if missing:
            self.progress(
                f"root versions {missing[0]} to {missing[-1]} not copied: they cannot be "
                f"verified from the pinned root (version {version}); pin 1.root.json to "
                "mirror them"
            )

    def _newer_roots(self, tms: TrustedMetadataSet) -> None:
        """Newer root versions from upstream, each verified by the one before."""
        first = tms.root.version + 1
        for version in range(first, first + self.limits.max_root_rotations):
            name = layout.metadata_filename("root", version)
            url = self.mirror.metadata_url + name
            try:
                data = self.fetcher.download_bytes(url, self.limits.root_max_bytes)
            except DownloadHTTPError as exc:
                if exc.status_code in (403, 404):
                    return  # no newer root: the normal end of the chain
                raise from_tuf(exc, "refresh", url) from exc
            except DownloadError as exc:
                raise from_tuf(exc, "refresh", url) from exc
            try:
                tms.update_root(data)
            except RepositoryError as exc:
                raise from_tuf(exc, "refresh", url) from exc
            self.metadata[name] = data
            self.newest_root = data

    def _verify_targets_roles(self, trusted: _Trusted, rescan: _Rescan) -> dict[str, _Role]:
        """Verify the delegated roles this sync needs, by name.

        Changed roles are fetched from upstream (hash bins in parallel); unchanged ones
        are read back from the mirror, and verified again, only when the pages they
        list must be checked (``rescan``). The walk follows the delegations from
        ``targets``; every delegated name and every target path is checked against
        the layout (:meth:`_check_delegations`, :meth:`_check_targets`) before it can
        name a file.
        """
        roles: dict[str, _Role] = {}
        named = {Targets.type}
        queue: deque[tuple[str, str, SuccinctRoles | None, bytes | None]] = deque(
            [(Targets.type, Root.type, None, None)]
        )
        while queue:
            role, parent, bins, data = queue.popleft()
            md = self._load_role(trusted, role, parent, data)
            self._check_targets(role, md, bins)
            roles[role] = _Role(md, role in trusted.changed)
            if md.delegations is None:
                continue
            self._check_delegations(role, md, bins, named)
            queue.extend((child, role, None, None) for child in md.delegations.roles or {})
            succinct = md.delegations.succinct_roles
            if succinct is None:
                continue
            children = list(succinct.get_roles())
            wanted = (
                set(children)
                if rescan.all
                else {
                    succinct.get_role_for_target(layout.page_target(project, form))
                    for project in rescan.projects
                    for form in layout.PAGE_FORMS
                }
            )
            load = [c for c in children if c in trusted.changed or c in wanted]
            fetch = [c for c in load if c in trusted.changed]
            self.progress(
                f"{role}: {len(fetch)} of {len(children)} delegated roles changed, "
                f"{len(load) - len(fetch)} unchanged to re-check"
            )
            downloads = _parallel(self._fetch_role(trusted), fetch, self.options.jobs)
            fetched = dict(zip(fetch, downloads, strict=True))
            queue.extend((child, role, succinct, fetched.get(child)) for child in load)
        return roles

    def _check_delegations(
        self, role: str, md: Targets, bins: SuccinctRoles | None, named: set[str]
    ) -> None:
        """Refuse delegations outside DESIGN §4, before any delegated name is used.

        Names become file names (``N.<role>.json``), so each must be a layout role
        name: ``bins`` by name, ``bin-XXXX`` (of the width its bin count gives) only
        through a hash-bin delegation (python-tuf already refuses top-level names).
        A hash bin delegates nothing, and no role is delegated twice (its file would
        be written twice).
        """
        delegations = md.delegations
        assert delegations is not None
        succinct = delegations.succinct_roles
        if bins is not None:
            names = list(delegations.roles or {}) or [f"{succinct and succinct.name_prefix}-*"]
            raise self._refused(
                role, f"delegates to {names[0]!r}, but a hash bin delegates nothing (DESIGN §4)"
            )
        children: list[tuple[str, int | None]] = [(c, None) for c in delegations.roles or {}]
        if succinct is not None:
            children += [(c, succinct.number_of_bins) for c in succinct.get_roles()]
        for child, number_of_bins in children:
            self._checked_name(role, child, number_of_bins)
            if child in named:
                raise self._refused(role, f"delegates to {child!r}, which is delegated already")
            named.add(child)

    def _checked_name(self, role: str, child: str, number_of_bins: int | None) -> None:
        try:
            layout.check_role_name(child, number_of_bins)
        except layout.LayoutError as exc:
            raise self._refused(role, f"delegates to an invalid role name: {exc}") from exc
        if layout.is_bin_role(child) != (number_of_bins is not None):
            raise self._refused(
                role, f"delegates to {child!r}: bin-XXXX names come from hash-bin delegations only"
            )

    def _check_targets(self, role: str, md: Targets, bins: SuccinctRoles | None) -> None:
        """Refuse target paths that are not page targets of this role.

        A target path names the page copy and the live page the sync writes: it must
        be ``simple/<normalized>/index.*``, with a lowercase hex sha256 where it has one
        (the copy's name), and in a hash bin it must hash into that bin.
        """
        for path, target in md.targets.items():
            try:
                layout.parse_page_target(path)
                if "sha256" in target.hashes:
                    page_copy_path(path, target.hashes["sha256"])
            except layout.LayoutError as exc:
                raise self._refused(role, f"signs the target {path!r}: {exc}") from exc
            if bins is not None and bins.get_role_for_target(path) != role:
                raise self._refused(
                    role, f"signs {path!r}, which hashes into {bins.get_role_for_target(path)}"
                )

    def _refused(self, role: str, problem: str) -> VerificationError:
        """The error for metadata the layout does not allow; ``role`` is a checked name."""
        return VerificationError(f"{self.mirror.url}: role {role} {problem}")

    def _fetch_role(self, trusted: _Trusted) -> Callable[[str], bytes]:
        def fetch(role: str) -> bytes:
            meta = trusted.tms.snapshot.meta[f"{role}.json"]
            limit = meta.length or self.limits.targets_max_bytes
            return self._get(trusted.filename(role), limit, "lookup")

        return fetch

    def _load_role(self, trusted: _Trusted, role: str, parent: str, data: bytes | None) -> Targets:
        name = trusted.filename(role)
        if data is None and role not in trusted.changed:
            local = self.tree.read_metadata(name)
            if local is not None and _load_local(
                lambda d: _update_role(trusted.tms, role, parent, d), local, expired_ok=False
            ):
                return trusted.tms[role]  # type: ignore[return-value]
            trusted.changed.add(role)  # missing or damaged on the mirror: copy it again
        if data is None:
            data = self._fetch_role(trusted)(role)
        try:
            _update_role(trusted.tms, role, parent, data)
        except RepositoryError as exc:
            raise from_tuf(exc, "lookup", self.mirror.metadata_url + name) from exc
        self.metadata[name] = data
        return trusted.tms[role]  # type: ignore[return-value]

    # -- pages and files ---------------------------------------------------------------

    def _pages_to_sync(self, roles: dict[str, _Role], rescan: _Rescan) -> dict[str, list[_Page]]:
        """Page targets to bring over, by project.

        In a changed bin: pages whose copy is not on the mirror, or whose live page is
        not the signed one. In any bin: pages of projects the last sync did not cover.
        """
        selected = self.options.projects
        by_project: dict[str, list[_Page]] = {}
        for role in roles.values():
            for path, target in role.md.targets.items():
                project = layout.parse_page_target(path).project  # checked by _check_targets
                if selected is not None and project not in selected:
                    continue
                if "sha256" not in target.hashes:
                    # DESIGN §3: a page target's one hash is its sha256, which names the copy.
                    self.report.unverifiable.append(f"{path}: signed without a sha256")
                    continue
                page = _Page(path, target, recheck=project in rescan)
                if page.recheck or (role.changed and self._stale(page)):
                    by_project.setdefault(project, []).append(page)
        return by_project

    def _stale(self, page: _Page) -> bool:
        if self.tree.size(page.copy) != page.target.length:
            return True
        if not self.options.live_pages:
            return False
        live = self.tree.read(page.target_path)
        return live is None or hashlib.sha256(live).hexdigest() != page.target.hashes["sha256"]

    def _sync_projects(self, pages: dict[str, list[_Page]]) -> list[_ProjectResult]:
        results = []
        items = sorted(pages.items())
        for done, result in enumerate(_parallel(self._sync_project, items, self.options.jobs), 1):
            results.append(result)
            report = self.report
            report.pages += result.pages
            report.files += result.files
            report.file_bytes += result.file_bytes
            report.files_present += result.files_present
            report.unverifiable += result.unverifiable
            report.outside_packages += result.outside_packages
            report.missing_files += result.missing_files
            if done == len(items) or done % 100 == 0:
                self.progress(f"projects {done}/{len(items)}")
        return results

    def _sync_project(self, item: tuple[str, list[_Page]]) -> _ProjectResult:
        """Verify a project's pages, then copy their files, then write the page copies."""
        project, pages = item
        result = _ProjectResult()
        fresh: dict[str, bytes] = {}
        seen: set[str] = set()
        for page in pages:
            data = self.tree.read(page.copy)
            if data is None or not _matches(page.target, data):
                data = self._get_page(page)
                fresh[page.copy] = data
            result.live[page.target_path] = data
            if (page.copy in fresh or page.recheck) and (
                self.options.packages or self.options.check_files
            ):
                self._sync_files(project, page.target_path, data, result, seen)
        for copy, data in fresh.items():
            self.tree.write(copy, data)
            result.pages.append(copy)
        return result

    def _get_page(self, page: _Page) -> bytes:
        url = self.mirror.targets_url + page.copy
        data = self._get(page.copy, page.target.length, "download", self.mirror.targets_url)
        try:
            page.target.verify_length_and_hashes(data)
        except RepositoryError as exc:
            raise from_tuf(exc, "download", url) from exc
        return data

    def _sync_files(
        self, project: str, target_path: str, data: bytes, result: _ProjectResult, seen: set[str]
    ) -> None:
        """Copy (or, for an overlay, look for) every file the verified page links to."""
        page_url = self.mirror.page_url(project)
        form = posixpath.basename(target_path)
        try:
            page = parse_page(data, form, page_url + form)
        except PageError as exc:
            raise InvalidPageError(str(exc)) from exc
        for link in page.files:
            for expected, max_bytes in _expected_files(
                link, target_path, result.unverifiable, self.limits
            ):
                try:
                    rel = packages_path(page_url, expected.url)
                except ValueError as exc:
                    raise InvalidPageError(f"{target_path}: {exc}") from exc
                if rel is None:
                    result.outside_packages.append(f"{target_path}: {expected.url}")
                    continue
                if rel in seen:
                    continue
                seen.add(rel)
                size = self.tree.size(f"packages/{rel}")
                if size is not None and expected.size in (None, size):
                    result.files_present += 1
                elif not self.options.packages:
                    result.missing_files.append(f"packages/{rel}")
                else:
                    dest = self.tree.path(f"packages/{rel}")
                    urls = file_urls(page_url, expected.url, [self.mirror])
                    fetch_file(self.fetcher, expected, urls, dest, max_bytes)
                    result.files.append(f"packages/{rel}")
                    result.file_bytes += dest.stat().st_size

    # -- switching ---------------------------------------------------------------------

    def _switch(self, trusted: _Trusted) -> None:
        """Write role files, the snapshot and roots, then ``timestamp.json`` last."""
        files = dict(self.metadata)
        timestamp = files.pop(layout.metadata_filename("timestamp"), None)
        snapshot_name = layout.metadata_filename("snapshot", trusted.tms.snapshot.version)
        roots = sorted(
            (int(name.split(".", 1)[0]), name) for name in files if name.endswith(".root.json")
        )
        order = [n for n in sorted(files) if n != snapshot_name and not n.endswith(".root.json")]
        order += [snapshot_name] if snapshot_name in files else []
        for name in order:
            self.tree.write_metadata(name, files[name], compress=self.options.compress)
        for version, name in roots:
            if self.tree.read_metadata(name) != files[name]:  # a pinned root it had already
                self.tree.write_metadata(name, files[name], compress=self.options.compress)
                self.report.roots.append(version)
        root_copy = layout.metadata_filename("root")
        if self.tree.read_metadata(root_copy) != self.newest_root:
            self.tree.write_metadata(root_copy, self.newest_root, compress=False)
        self.tree.sync_dir(self.tree.metadata_dir)
        if timestamp is not None:
            self.tree.write_metadata(
                layout.metadata_filename("timestamp"), timestamp, compress=False
            )
        self.report.roles = order

    def _update_live_pages(
        self,
        results: list[_ProjectResult],
        roles: dict[str, _Role],
        local: LocalState,
        rescan: _Rescan,
    ) -> None:
        """``simple/<p>/index.*`` = the signed copies, for installers without TUF."""
        if not self.options.live_pages:
            return
        touched = False
        for result in results:
            for target_path, data in result.live.items():
                if self.tree.read(target_path) != data:
                    self.tree.write(target_path, data)
                    touched = True
        for path in sorted(self._gone_pages(roles, local, rescan)):
            if self.tree.remove(path):
                self.report.live_pages_removed.append(path)
                touched = True
        if touched or not (self.tree.simple_dir / "index.html").exists():
            self.tree.write_project_listing()

    def _gone_pages(self, roles: dict[str, _Role], local: LocalState, rescan: _Rescan) -> set[str]:
        """Live pages no bin lists any more (the project is gone upstream).

        Candidates are what the changed bins listed before, plus every live page of the
        projects checked again (``rescan``), whose bins are all loaded.
        """
        listed = {path for role in roles.values() for path in role.md.targets}
        candidates: set[str] = set()
        for name, role in roles.items():
            if role.changed and name in local.versions:
                old = self.tree.read_metadata(layout.metadata_filename(name, local.versions[name]))
                candidates |= _target_paths(old)
        projects = self.tree.projects() if rescan.all else sorted(rescan.projects)
        candidates |= {
            f"{layout.SIMPLE_DIR}/{p}/{form}" for p in projects for form in layout.PAGE_FORMS
        }
        selected = self.options.projects
        gone = set()
        for path in candidates - listed:
            with contextlib.suppress(layout.LayoutError):
                project = layout.parse_page_target(path).project
                if selected is None or project in selected:
                    gone.add(path)
        return gone

    # -- fetching ------------------------------------------------------------------------

    def _get(self, name: str, max_length: int, phase: Phase, base: str | None = None) -> bytes:
        """``name`` under the upstream's ``tuf/`` (or ``base``); a client error on failure."""
        url = (base or self.mirror.metadata_url) + name
        try:
            return self.fetcher.download_bytes(url, max_length)
        except DownloadError as exc:
            raise from_tuf(exc, phase, url) from exc


def _versioned_name(source: str, role: str, version: object) -> str:
    """``N.<role>.json`` for a checked role name; VerificationError unless N is an int >= 1.

    python-tuf accepts ``true`` where a version goes (and compares it equal to 1), so a
    version from metadata is checked before it names a file.
    """
    try:
        return layout.metadata_filename(role, check_version(version))
    except layout.LayoutError as exc:
        raise VerificationError(f"{source}: role {role}: {exc}") from exc


def _update_role(tms: TrustedMetadataSet, role: str, parent: str, data: bytes) -> None:
    if role == Targets.type:
        tms.update_targets(data)
    else:
        tms.update_delegated_targets(data, role, parent)


def _load_local(update: Callable[[bytes], object], data: bytes, expired_ok: bool = True) -> bool:
    """Load the mirror's own metadata as trusted state, as ngclient loads its cache.

    An expired timestamp or snapshot still guards against rollback, so it counts as
    loaded; anything that no longer verifies (keys rotated, a damaged file) is ignored
    and fetched anew.
    """
    try:
        update(data)
    except ExpiredMetadataError:
        return expired_ok
    except (RepositoryError, ValueError):
        return False
    return True


def _matches(target: TargetFile, data: bytes) -> bool:
    try:
        target.verify_length_and_hashes(data)
    except RepositoryError:
        return False
    return True


def _expected_files(
    link: FileLink, target_path: str, unverifiable: list[str], limits: Limits
) -> Iterable[tuple[ExpectedFile, int]]:
    """A link's distribution file and PEP 658 metadata file, where they can be verified.

    Each with the most bytes a download of it may bring where the page gives no size:
    ``file_max_bytes`` for distributions, ``metadata_max_bytes`` for ``.metadata`` (pages
    give its sha256 but no size, so without it only the 8 GiB file limit would bound it).
    """
    try:
        yield ExpectedFile.distribution(link, target_path), limits.file_max_bytes
    except NoHashError:
        unverifiable.append(f"{target_path}: {link.filename}")
        return
    if link.core_metadata is not False:
        try:
            metadata = ExpectedFile.core_metadata(link, target_path)
            yield metadata, limits.metadata_max_bytes
        except NoHashError:
            unverifiable.append(f"{target_path}: {link.filename}.metadata")


def _target_paths(data: bytes | None) -> set[str]:
    """Target paths of a bin the mirror served before (only to find removed pages)."""
    if data is None:
        return set()
    try:
        return set(Metadata[Targets].from_bytes(data).signed.targets)
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


def _parallel(func: Callable[[_T], _R], items: Sequence[_T], jobs: int) -> Iterator[_R]:
    """``map(func, items)`` on ``jobs`` threads, in order; the first error cancels the rest."""
    if jobs == 1 or len(items) <= 1:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(jobs) as pool:
        futures: list[Future[_R]] = [pool.submit(func, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()
