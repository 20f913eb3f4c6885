"""An independent audit of a repository on disk, as a careful client would see it.

It shares nothing with the publisher but the layout: it walks the root chain from
``1.root.json``, checks every signature against the keys the delegating role
lists, every version the snapshot names, and every page copy's hash and length.
It collects *all* problems rather than stopping at the first, so an admin sees
the whole damage at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from tuf.api.exceptions import RepositoryError, UnsignedMetadataError
from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

from .. import layout
from .scan import Skipped, project_dirs, read_page
from .storage import RepositoryStorage
from .verify_files import check_files

__all__ = ["Progress", "VerifyReport", "verify_repository"]


#: Called as progress(stage, done, total) while bins, pages or files are checked.
Progress = Callable[[str, int, int], None]


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    #: Pages not (yet) signed in their current form that publish would sign: the
    #: repository is still valid for clients, who keep getting the last signed copy.
    pending: list[str] = field(default_factory=list)
    #: Pages not signed in their current form that publish refuses, with its reason.
    refused: list[str] = field(default_factory=list)
    roles_checked: int = 0
    targets_checked: int = 0
    pages_checked: int = 0
    #: With the file check (mirror mode): distribution files checked under packages/,
    #: and links outside any packages/ tree (clients fetch those from their own URL).
    files_checked: int = 0
    files_elsewhere: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "pending": self.pending,
            "refused": self.refused,
            "roles": self.roles_checked,
            "targets": self.targets_checked,
            "pages": self.pages_checked,
            "files": self.files_checked,
            "files_elsewhere": self.files_elsewhere,
        }


def _tuf(filename: str) -> str:
    return f"{layout.METADATA_DIR}/{filename}"


class _Audit:
    def __init__(
        self,
        storage: RepositoryStorage,
        now: datetime,
        progress: Progress | None,
        projects: frozenset[str] | None = None,
    ) -> None:
        self.storage = storage
        self.now = now
        self.report = VerifyReport()
        self.progress = progress
        #: Only these projects' page copies are expected here (a partial mirror).
        self.projects = projects
        #: Target path -> sha256 of every page target the bins sign.
        self.seen_targets: dict[str, str] = {}

    def problem(self, message: str) -> None:
        self.report.problems.append(message)

    def load(self, filename: str, expected_type: str) -> Metadata | None:
        path = self.storage.metadata_dir / filename
        try:
            md = Metadata.from_bytes(path.read_bytes())
        except FileNotFoundError:
            self.problem(f"{_tuf(filename)}: missing")
            return None
        except (RepositoryError, ValueError, KeyError, TypeError) as e:
            self.problem(f"{_tuf(filename)}: not valid metadata ({e})")
            return None
        if md.signed.type != expected_type:
            self.problem(f"{_tuf(filename)}: is {md.signed.type}, not {expected_type}")
            return None
        self.report.roles_checked += 1
        return md

    def check_signed(self, delegator: Metadata, role: str, md: Metadata, filename: str) -> None:
        try:
            delegator.verify_delegate(role, md)
        except UnsignedMetadataError as e:
            self.problem(f"{_tuf(filename)}: signatures do not meet threshold ({e})")
        if md.signed.is_expired(self.now):
            self.problem(f"{_tuf(filename)}: expired at {md.signed.expires:%Y-%m-%d %H:%M:%SZ}")

    def root_chain(self) -> Metadata[Root] | None:
        versions = self.storage.root_versions()
        if not versions or versions[0] != 1:
            self.problem(
                f"{layout.METADATA_DIR}/1.root.json: missing (the trust chain starts there)"
            )
            return None
        expected = list(range(1, versions[-1] + 1))
        if versions != expected:
            missing = sorted(set(expected) - set(versions))
            self.problem(f"root versions missing from the chain: {missing}")
        trusted = None
        for version in versions:
            filename = layout.metadata_filename("root", version)
            md = self.load(filename, Root.type)
            if md is None:
                return None
            if md.signed.version != version:
                self.problem(f"{_tuf(filename)}: has version {md.signed.version}")
            if trusted is not None:
                try:
                    trusted.verify_delegate("root", md)
                except UnsignedMetadataError as e:
                    self.problem(
                        f"{_tuf(filename)}: not signed by the previous root's threshold ({e})"
                    )
            try:
                md.verify_delegate("root", md)
            except UnsignedMetadataError as e:
                self.problem(f"{_tuf(filename)}: not signed by its own threshold ({e})")
            trusted = md
        assert trusted is not None
        if trusted.signed.is_expired(self.now):
            self.problem(f"newest root (version {trusted.signed.version}) has expired")
        latest_name = layout.metadata_filename("root", trusted.signed.version)
        copy = self.storage.metadata_dir / layout.metadata_filename("root")
        if (
            not copy.is_file()
            or copy.read_bytes() != (self.storage.metadata_dir / latest_name).read_bytes()
        ):
            self.problem(f"{layout.METADATA_DIR}/root.json: is not a copy of {latest_name}")
        return trusted

    def run(self) -> VerifyReport:
        root = self.root_chain()
        if root is None:
            return self.report
        timestamp = self.load("timestamp.json", Timestamp.type)
        if timestamp is None:
            return self.report
        self.check_signed(root, "timestamp", timestamp, "timestamp.json")
        snap_meta = timestamp.signed.snapshot_meta
        snapshot_name = layout.metadata_filename("snapshot", snap_meta.version)
        try:
            snapshot_bytes = (self.storage.metadata_dir / snapshot_name).read_bytes()
            snap_meta.verify_length_and_hashes(snapshot_bytes)
        except FileNotFoundError:
            pass  # reported by load below
        except RepositoryError as e:
            self.problem(f"{_tuf(snapshot_name)}: does not match timestamp ({e})")
        snapshot = self.load(snapshot_name, Snapshot.type)
        if snapshot is None:
            return self.report
        self.check_signed(root, "snapshot", snapshot, snapshot_name)
        if snapshot.signed.version != snap_meta.version:
            self.problem(f"{_tuf(snapshot_name)}: has version {snapshot.signed.version}")
        self.targets_tree(root, snapshot)
        return self.report

    def load_listed(self, snapshot: Metadata[Snapshot], role: str) -> Metadata[Targets] | None:
        meta = snapshot.signed.meta.get(layout.metadata_filename(role))
        if meta is None:
            self.problem(f"snapshot does not list {role}")
            return None
        filename = layout.metadata_filename(role, meta.version)
        md = self.load(filename, Targets.type)
        if md is not None and md.signed.version != meta.version:
            self.problem(
                f"{_tuf(filename)}: has version {md.signed.version}, snapshot says {meta.version}"
            )
        return md

    def targets_tree(self, root: Metadata[Root], snapshot: Metadata[Snapshot]) -> None:
        targets = self.load_listed(snapshot, "targets")
        if targets is None:
            return
        self.check_signed(root, "targets", targets, "targets")
        bins = self.load_listed(snapshot, layout.BINS_ROLE)
        if bins is None:
            return
        self.check_signed(targets, layout.BINS_ROLE, bins, layout.BINS_ROLE)
        delegations = bins.signed.delegations
        if delegations is None or delegations.succinct_roles is None:
            self.problem("bins: no succinct hash bin delegation")
            return
        succinct = delegations.succinct_roles
        listed = {layout.role_of_metadata_filename(name) for name in snapshot.signed.meta}
        expected = set(succinct.get_roles())
        for extra in sorted(listed - expected - {"targets", layout.BINS_ROLE}):
            # Bins retired by 'rebin' stay listed: clients refuse a snapshot that
            # drops a role (TUF 5.5.5). No delegation points at them, so none is read.
            if not layout.is_bin_role(extra):
                self.problem(f"snapshot lists {extra}, which no role delegates")
        names = list(succinct.get_roles())
        for done, name in enumerate(names, 1):
            if self.progress is not None:
                self.progress("bins", done, len(names))
            md = self.load_listed(snapshot, name)
            if md is None:
                continue
            self.check_signed(bins, name, md, name)
            for path, target in md.signed.targets.items():
                self.check_target(name, succinct.get_role_for_target(path), path, target)

    def check_target(self, bin_name: str, expected_bin: str, path: str, target) -> None:
        self.report.targets_checked += 1
        try:
            page = layout.parse_page_target(path)
        except layout.LayoutError as e:
            self.problem(f"{bin_name}: target {e}")
            return
        if expected_bin != bin_name:
            self.problem(f"{bin_name}: lists {path}, which hashes into {expected_bin}")
        digest = target.hashes.get("sha256")
        if digest is None or list(target.hashes) != ["sha256"]:
            self.problem(f"{bin_name}: {path} must have exactly one hash, sha256")
            return
        if self.projects is not None and page.project not in self.projects:
            return  # signed, but not mirrored here
        copy = (
            self.storage.root
            / layout.SIMPLE_DIR
            / page.project
            / layout.consistent_name(page.form, digest)
        )
        try:
            data = copy.read_bytes()
        except FileNotFoundError:
            self.problem(f"{copy.relative_to(self.storage.root)}: missing (signed copy of {path})")
            return
        if len(data) != target.length or hashlib.sha256(data).hexdigest() != digest:
            self.problem(
                f"{copy.relative_to(self.storage.root)}: does not match the signed hash/length"
            )
        self.seen_targets[path] = digest

    def coverage(self) -> None:
        """Every page under simple/ is signed in its current form; if not, say why.

        A page that matches its signed hash costs one read and one hash, as a client's
        check would. Only the others are judged by publish's own rules (``scan``): one
        publish would sign is pending; one it refuses is reported with its reason,
        since publishing cannot help.
        """
        seen = self.seen_targets
        entries = list(project_dirs(self.storage))
        for done, entry in enumerate(entries, 1):
            if self.progress is not None:
                self.progress("pages", done, len(entries))
            if isinstance(entry, Skipped):
                self.report.refused.append(f"{entry.source}: {entry.reason}")
                continue
            for form in layout.PAGE_FORMS:
                path = layout.page_target(entry, form)
                digest = _digest_of(self.storage, path)
                if digest is None:
                    continue
                self.report.pages_checked += 1
                if seen.get(path) == digest:
                    continue
                page = read_page(self.storage.root, entry, form)
                if isinstance(page, Skipped):
                    self.report.refused.append(f"{path}: {page.reason}")
                elif page is not None:
                    why = "not signed yet" if path not in seen else "changed since it was signed"
                    self.report.pending.append(f"{path}: {why}")


def _digest_of(storage: RepositoryStorage, path: str) -> str | None:
    """sha256 of the page file, None if there is none (or it cannot be read)."""
    try:
        return hashlib.sha256((storage.root / path).read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError:
        return ""  # unreadable: never equal to a signed hash, so read_page says why


def verify_repository(
    storage: RepositoryStorage,
    now: datetime,
    *,
    live_pages: bool = True,
    files: bool = False,
    progress: Progress | None = None,
    projects: frozenset[str] | None = None,
) -> VerifyReport:
    """Audit the repository at ``storage`` as of ``now``; see :class:`VerifyReport`.

    ``live_pages``: also compare the pages under simple/ with what is signed (the
    index admin's question; ``verify --mirror`` only counts what differs).
    ``files``: also check every distribution file the signed pages list under
    packages/ against its sha256 (what a mirror serves clients). ``projects``: only
    these projects' copies and files are expected (a partial mirror); every
    signature is still checked.
    """
    audit = _Audit(storage, now, progress, projects)
    report = audit.run()
    if live_pages:
        audit.coverage()
    if files:
        checked = check_files(storage, audit.seen_targets, progress)
        report.problems.extend(checked.problems)
        report.files_checked, report.files_elsewhere = checked.checked, checked.elsewhere
    return report
