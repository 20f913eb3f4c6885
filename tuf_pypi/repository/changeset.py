"""One classification of observed pages into a change set: pure, no I/O.

Every source of pages (the full scan, ``--project``, a queue batch) reports what it
saw as observations: :class:`Observed` (an eligible page, its digest and whether
its consistent copy had to be written), :class:`Absent` (no page at that path) or
:class:`~tuf_pypi.repository.scan.Skipped` (not eligible, with the reason).
:func:`classify` compares them with the signed targets and gives one
:class:`ChangeSet`: added, changed, unchanged, removed, skipped with reason, per bin
the targets to set or delete. Rebin, restore and key ceremonies say what they
want directly: targets to set (:meth:`ChangeSet.set`), bins that get exactly
these targets (:meth:`ChangeSet.replace`) or none (:meth:`ChangeSet.retire`),
new offline roles such as a bins role with another delegation
(:meth:`ChangeSet.publish_role`). The transaction (``Publisher.commit``) then
signs exactly the bins the change set names, at the versions
:func:`next_versions` gives, with the keys of the roles it publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tuf.api.metadata import Metadata

from .scan import Skipped

__all__ = [
    "Absent",
    "ChangeSet",
    "Observed",
    "classify",
    "next_versions",
    "same_target",
    "target",
]

#: (size, mtime_ns, ctime_ns, inode) of a page file, for the stat cache.
StatKey = tuple[int, int, int, int]


class Observed(NamedTuple):
    """A page eligible for signing, as a source saw it (no bytes kept).

    A tuple: a full publish at PyPI scale makes 1.5 million of them, in worker
    processes. ``bin`` is the hash bin of ``path``; ``key`` the page's stat key
    (None when not cacheable); ``copy_written`` tells that its ``<sha256>.<form>``
    copy was missing and has been written.
    """

    path: str
    bin: str
    sha256: str
    length: int
    unverifiable: int
    key: StatKey | None = None
    copy_written: bool = False
    #: The page file was edited in place since the last scan (same inode, other
    #: stat): with linked copies, its previously signed copy changed with it.
    edited_in_place: bool = False


class Absent(NamedTuple):
    """No page at ``path`` (a removed project or form)."""

    path: str


def target(sha256: str, length: int) -> dict[str, Any]:
    """The TUF target of a page: DESIGN §3 (sha256 only, length required)."""
    return {"hashes": {"sha256": sha256}, "length": length}


def same_target(current: dict[str, Any] | None, sha256: str, length: int) -> bool:
    """True when the signed ``current`` target already names these bytes."""
    if current is None:
        return False
    hashes = current.get("hashes")
    return (
        isinstance(hashes, dict)
        and hashes.get("sha256") == sha256
        and current.get("length") == length
    )


@dataclass
class ChangeSet:
    """What one transaction changes, and what its sources saw."""

    #: bin name -> {target path: target dict to set, or None to delete}. A bin
    #: mapped to ``{}`` is re-signed as it is (refresh, key rotation).
    bins: dict[str, dict[str, dict[str, Any] | None]] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    unverifiable: dict[str, int] = field(default_factory=dict)
    edited_in_place: list[str] = field(default_factory=list)
    #: Bins of ``bins`` whose targets are exactly the ones given there, not changes
    #: to the signed ones: bins of a new delegation, whose names may have been
    #: published before (see :func:`next_versions`).
    replaced: set[str] = field(default_factory=set)
    #: Bins the new delegation no longer names, emptied (also in ``replaced``).
    retired: list[str] = field(default_factory=list)
    #: New offline roles to publish with the online ones: role -> signed metadata.
    roles: dict[str, Metadata] = field(default_factory=dict)

    def set(self, bin_name: str, path: str, new: dict[str, Any] | None) -> None:
        """Set (or with None delete) one target of ``bin_name``."""
        changed = self.bins.get(bin_name)
        if changed is None:
            changed = self.bins[bin_name] = {}
        changed[path] = new

    def resign(self, bin_name: str) -> None:
        """Re-sign ``bin_name`` even if none of its targets changes."""
        self.bins.setdefault(bin_name, {})

    def replace(self, bin_name: str, targets: dict[str, dict[str, Any]]) -> None:
        """Sign ``bin_name`` with exactly ``targets``, whatever it held before.

        ``targets`` is taken as it is, not copied (a rebin moves every target of
        the repository), and becomes the bin's targets once committed.
        """
        self.bins[bin_name] = targets  # type: ignore[assignment]
        self.replaced.add(bin_name)

    def retire(self, bin_name: str) -> None:
        """Sign ``bin_name`` empty: no delegation names it any more (``rebin.py``)."""
        self.replace(bin_name, {})
        self.retired.append(bin_name)

    def publish_role(self, role: str, metadata: Metadata) -> None:
        """Publish ``metadata`` (signed offline) as the new version of ``role``.

        A new ``bins`` role brings its delegation: the bins are signed with the
        keys it names and located by its bin count.
        """
        self.roles[role] = metadata


def next_versions(
    names: Iterable[str], published: Mapping[str, int], on_disk: Mapping[str, int]
) -> dict[str, int]:
    """Version to sign each name at: one more than any version ever seen (pure).

    ``published`` is the snapshot's versions (``{role: version}``), ``on_disk`` the
    highest ``N.<role>.json`` found; either may lack a name (never published: 1).
    Names can come back (16 -> 32 -> 16 bins), and a client that saw ``bin-0a`` v7
    must never be offered ``bin-0a`` v1; ``gc`` may have deleted old versions, so
    the files on disk complement, never replace, the snapshot's versions.
    """
    return {n: max(published.get(n, 0), on_disk.get(n, 0)) + 1 for n in names}


Current = Callable[[str, str], "dict[str, Any] | None"]


def classify(
    observations: Iterable[Observed | Absent | Skipped],
    current: Current,
    bin_of: Callable[[str], str],
    *,
    signed: Iterable[tuple[str, str]] = (),
    present: Callable[[str], bool] | None = None,
    into: ChangeSet | None = None,
) -> ChangeSet:
    """Compare observations with the signed targets (``current(bin, path)``).

    A skipped page keeps its signed version (if any). For a full scan, ``signed``
    lists every signed ``(bin, path)`` and ``present(project)`` tells whether the
    scan saw that project's directory: targets of projects that are gone are removed.
    """
    cs = into if into is not None else ChangeSet()
    for seen in observations:
        kind = type(seen)
        if kind is Observed:
            path, bin_name, sha256, length, unverifiable, _key, copy_written, edited = seen  # type: ignore[misc]
            if edited:
                cs.edited_in_place.append(path)
            if unverifiable:
                cs.unverifiable[path] = unverifiable
            old = current(bin_name, path)
            if same_target(old, sha256, length):
                cs.unchanged += 1
                if copy_written:
                    cs.repaired.append(path)
                continue
            cs.set(bin_name, path, target(sha256, length))
            (cs.added if old is None else cs.changed).append(path)
        elif kind is Absent:
            path = seen.path  # type: ignore[union-attr]
            bin_name = bin_of(path)
            if current(bin_name, path) is not None:
                cs.set(bin_name, path, None)
                cs.removed.append(path)
        else:
            cs.skipped.append(seen)  # type: ignore[arg-type]
    if present is not None:
        for bin_name, path in signed:
            if not present(path.split("/", 2)[1]):
                cs.set(bin_name, path, None)
                cs.removed.append(path)
    return cs
