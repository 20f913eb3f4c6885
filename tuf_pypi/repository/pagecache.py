"""Stat cache of page digests, and the parallel full scan that uses it.

A full publish at PyPI scale looks at ~1.5 million pages; nearly all are unchanged
since the last run. The cache remembers, per page, the ``lstat`` it had when it was
last hashed and parsed, and what that gave (sha256, length, unverifiable links).
A page whose size, mtime, ctime and inode all match is not read again.

Limitation (documented in docs/performance.md): the key is what the kernel reports.
A page rewritten in place keeping size and inode, with mtime set back by hand, is
still caught because its ctime moves (ctime cannot be set by a user); only someone
who can set the system clock back, or edit the block device, can fool it. The cache
lives in the state directory, outside the served tree, and ``--no-cache`` style use
(``Publisher(page_cache=False)``) re-hashes everything.

The cache is a text file, one line per page, rewritten atomically after a full
publish commits. A missing or unreadable cache only costs time.

The scan also makes each missing ``<sha256>.<form>`` copy: written from the bytes
it hashed, or with linked copies a hard link to that very file (:func:`link_copy`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence, Set
from pathlib import Path
from typing import NamedTuple, Protocol

from .. import layout, pages
from ..localfs import replace_file
from .changeset import Absent, Observed, StatKey
from .scan import Page, Skipped, read_page
from .storage import RepositoryStorage, WorkerWrites
from .workers import fork_pool

__all__ = ["CachedPage", "CopyWriter", "PageCache", "link_copy", "scan_projects"]

_VERSION = "tuf-pypi-page-cache 1"


class CachedPage(NamedTuple):
    """What a page gave when it was last hashed and parsed, keyed by its ``lstat``.

    Tuples, not dataclasses: a full publish at PyPI scale makes 1.5 million of
    each, and passes the scanned ones between processes.
    """

    key: StatKey
    sha256: str
    unverifiable: int


class CopyWriter(Protocol):
    """Writes page copies: the storage itself in this process, or a forked worker's
    :class:`~tuf_pypi.repository.storage.WorkerWrites`."""

    link: bool

    def write_copy(self, path: str, data: bytes) -> None: ...


class _StorageCopies:
    """Copies written through the storage (its hook sees each one)."""

    def __init__(self, storage: RepositoryStorage, link: bool) -> None:
        self.storage, self.link = storage, link

    def write_copy(self, path: str, data: bytes) -> None:
        from .storage import WriteKind

        self.storage.put(WriteKind.COPY, path, data)


#: Builds a NamedTuple from a tuple without its generated Python ``__new__``
#: (``tuple.__new__(CachedPage, (key, sha256, unverifiable))``): 1.5 M per publish.
_new = tuple.__new__


def _repo_id(root: Path) -> str:
    st = os.stat(root)
    text = f"{os.path.realpath(root)}\0{st.st_dev}\0{st.st_ino}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PageCache:
    """path -> CachedPage, stored at ``<state_dir>/page-cache-<repo id>.tsv``."""

    def __init__(self, state_dir: Path, repo: Path) -> None:
        self.file = state_dir / f"page-cache-{_repo_id(repo)}.tsv"
        self.entries: dict[str, CachedPage] = {}

    def load(self) -> PageCache:
        try:
            with open(self.file, encoding="utf-8") as f:
                if f.readline().rstrip("\n") != _VERSION:
                    return self
                entries = {}
                for line in f:
                    path, size, mtime, ctime, ino, digest, unverifiable = line.split("\t")
                    key = (int(size), int(mtime), int(ctime), int(ino))
                    entries[path] = _new(CachedPage, (key, digest, int(unverifiable)))
                self.entries = entries
        except (OSError, ValueError):
            self.entries = {}
        return self

    def save(self, scanned: Sequence[Observed]) -> None:
        """Replace the cache file with what a full scan saw (pages read with a stable key).

        Written straight from the scan results, without building the entries
        again: 1.5 million lines at PyPI scale.
        """
        lines = [_VERSION + "\n"]
        lines += [
            f"{p.path}\t{k[0]}\t{k[1]}\t{k[2]}\t{k[3]}\t{p.sha256}\t{p.unverifiable}\n"
            for p in scanned
            if (k := p.key) is not None
        ]
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            # Not durable: a cache lost in a power cut only costs a re-hash.
            replace_file(self.file, "".join(lines).encode(), durable=False)


def _key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


#: Open a page without following a symlink, blocking on a FIFO or taking a terminal.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _copy_present(copy: str, length: int) -> bool:
    try:
        st = os.stat(copy)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == length


def _too_large(target: str) -> Skipped:
    return Skipped(target, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")


class _Scan(NamedTuple):
    """What every scan of one batch of projects shares (given to workers explicitly)."""

    root: str
    cache: dict[str, CachedPage]
    bin_of: Callable[[str], str]
    symlinked: Set[str]


def _scan_one(
    scan: _Scan, simple_fd: int, project: str, writes: CopyWriter
) -> list[Observed | Skipped | Absent]:
    """Both forms of one project.

    A page the stat cache knows costs one ``lstat`` and one ``stat`` of its copy
    (a swapped-in symlink changes the key, so it is read again). Any other page
    is opened beneath the ``simple/`` descriptor, the project directory and the
    page each with ``O_NOFOLLOW`` (``fstat`` tells whether it is a regular file):
    no name is looked up twice, so a symlink swapped in between a check and the
    open cannot get another file read (issue 18, item 3). No directory listing:
    at PyPI scale a ``listdir`` per project costs more than a cached page needs.
    """
    root, cache, bin_of = scan.root, scan.cache, scan.bin_of
    project_dir = f"{root}/{layout.SIMPLE_DIR}/{project}"
    slow = project in scan.symlinked
    out: list[Observed | Skipped | Absent] = []
    project_fd: int | None = None
    try:
        for form in layout.PAGE_FORMS:
            target = f"{layout.SIMPLE_DIR}/{project}/{form}"
            page_path = f"{project_dir}/{form}"
            hit = cache.get(target)
            edited = False
            if hit is not None or slow:  # else no lstat: the open below tells as much
                try:
                    st = None if slow else os.lstat(page_path)
                except FileNotFoundError:
                    out.append(Absent(target))
                    continue
                except OSError:
                    st = None
                if st is None or not stat.S_ISREG(st.st_mode):
                    out.append(_scan_carefully(root, project, form, writes, bin_of))
                    continue
                if st.st_size > pages.MAX_PAGE_BYTES:
                    out.append(_too_large(target))
                    continue
                key = _key(st)
                # Same inode, other size or times, and another name (a linked copy):
                # written in place, not replaced, and the copy changed with it. (A
                # replaced page's old inode lives on as its copy, so the number cannot
                # have been reused meanwhile.)
                edited = (
                    hit is not None and hit.key[3] == key[3] and hit.key != key and st.st_nlink > 1
                )
                if hit is not None and hit.key == key:
                    copy = f"{project_dir}/{layout.consistent_name(form, hit.sha256)}"
                    if _copy_present(copy, key[0]):
                        out.append(
                            Observed(
                                target, bin_of(target), hit.sha256, key[0], hit.unverifiable, key
                            )
                        )
                        continue
            try:
                if project_fd is None:
                    project_fd = os.open(project, _DIR_FLAGS, dir_fd=simple_fd)
                fd = os.open(form, _OPEN_FLAGS, dir_fd=project_fd)
            except FileNotFoundError:
                out.append(Absent(target))
                continue
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):  # a symlink: the careful path
                    out.append(_scan_carefully(root, project, form, writes, bin_of))
                else:
                    out.append(Skipped(target, f"cannot be read ({e.strerror})"))
                continue
            try:
                opened = os.fstat(fd)
                if not stat.S_ISREG(opened.st_mode):
                    out.append(_scan_carefully(root, project, form, writes, bin_of))
                    continue
                data = _read_all(fd, opened.st_size)
                out.append(
                    _observe(
                        target, project_dir, form, data, opened, hit, edited, fd, writes, bin_of
                    )
                )
            finally:
                os.close(fd)
    finally:
        if project_fd is not None:
            os.close(project_fd)
    return out


def _observe(target, project_dir, form, data, opened, hit, edited, fd, writes, bin_of):
    """Hash and (unless the same bytes were parsed before) check one page read."""
    if len(data) > pages.MAX_PAGE_BYTES:
        return _too_large(target)
    digest = hashlib.sha256(data).hexdigest()
    if hit is not None and hit.sha256 == digest and hit.key[0] == len(data):
        unverifiable = hit.unverifiable  # same bytes as when parsed: no need to parse
    else:
        try:
            unverifiable = pages.check_page(data, form, target)
        except pages.PageError as e:
            return Skipped(target, e.reason)
    page = Page(project_dir.rpartition("/")[2], form, data, digest, unverifiable)
    key = _key(opened) if len(data) == opened.st_size else None
    # A page edited in place would change a linked copy again: its copy gets
    # bytes of its own from now on.
    link_to = (opened, fd) if writes.link and not edited else None
    scanned = _finish(page, bin_of(target), key, project_dir, writes, link_to)
    return scanned._replace(edited_in_place=True) if edited else scanned


def _scan_carefully(root: str, project: str, form: str, writes: CopyWriter, bin_of):
    """Symlinks and odd files: the careful path, which checks where they lead."""
    page = read_page(Path(root), project, form)
    if page is None:
        return Absent(layout.page_target(project, form))
    if isinstance(page, Skipped):
        return page
    project_dir = f"{root}/{layout.SIMPLE_DIR}/{project}"
    return _finish(page, bin_of(page.path), None, project_dir, writes, None)


def _read_all(fd: int, size_hint: int) -> bytes:
    """The file's bytes, at most one past the page size limit.

    Asks for one byte more than ``fstat`` said; a short read is the end of a
    regular file, so the usual page costs one ``read``, not two.
    """
    chunks = []
    want = min(max(size_hint, 1) + 1, pages.MAX_PAGE_BYTES + 1)
    total = 0
    while True:
        chunk = os.read(fd, want)
        chunks.append(chunk)
        total += len(chunk)
        if len(chunk) < want or total > pages.MAX_PAGE_BYTES:
            break
        want = min(1 << 20, pages.MAX_PAGE_BYTES + 1 - total)
    return b"".join(chunks)


def _finish(
    page: Page,
    bin_name: str,
    key: StatKey | None,
    project_dir: str,
    writes: CopyWriter,
    link_to: tuple[os.stat_result, int] | None,
) -> Observed:
    """The observed page, after making sure its consistent copy is there.

    With ``link_to`` (the ``fstat`` and descriptor of the page file that was read)
    the copy is first tried as a hard link to that very file (:func:`link_copy`):
    one system call, which also finds out whether the copy exists already.
    Linking changes the file's ctime, so the stat key is taken again; and the
    linked file is read once more through the descriptor: if it no longer holds
    the bytes that were hashed (edited in place between the read and the link,
    issue 18 item 12), the link is undone, the copy gets the hashed bytes of its
    own and the page is left out of the stat cache, so the next publish re-hashes
    it instead of signing the old digest again.
    """
    copy = f"{project_dir}/{layout.consistent_name(page.form, page.sha256)}"
    written = True
    if link_to is not None and (
        linked := link_copy(f"{project_dir}/{page.form}", copy, link_to[0])
    ):
        if _bytes_at(link_to[1], page.length) == page.data and (
            linked.st_size,
            linked.st_mtime_ns,
        ) == (link_to[0].st_size, link_to[0].st_mtime_ns):
            key = _key(linked) if key is not None else None
        else:
            with contextlib.suppress(OSError):
                os.unlink(copy)
            writes.write_copy(copy, page.data)
            key = None
    elif _copy_present(copy, page.length):
        written = False
    else:
        writes.write_copy(copy, page.data)
    return Observed(page.path, bin_name, page.sha256, page.length, page.unverifiable, key, written)


def _bytes_at(fd: int, length: int) -> bytes:
    try:
        return os.pread(fd, length + 1, 0)
    except OSError:
        return b""


def link_copy(page_path: str, copy: str, read_from: os.stat_result) -> os.stat_result | None:
    """Make ``copy`` a hard link to the page file that was read; its ``lstat``, or None.

    None means "write the bytes instead": linking is not possible here (another
    file system, a file system without hard links, a stale file at ``copy``), or
    the page was replaced between reading and linking, so the link would name
    other bytes (the stray link is removed). A hard link costs no inode, no data
    and no rename: on ext4 about a twentieth of writing a copy. Create-only by
    nature: ``link`` never replaces an existing name.
    """
    try:
        os.link(page_path, copy, follow_symlinks=False)
        st = os.lstat(copy)
    except OSError:
        return None
    if st.st_ino != read_from.st_ino or st.st_dev != read_from.st_dev:
        with contextlib.suppress(OSError):
            os.unlink(copy)
        return None
    return st


#: The scan a forked worker was started with (set by the pool initializer in the
#: child only, from the argument the parent passed it).
_INHERITED: list[_Scan] = []


def _inherit(scan: _Scan) -> None:
    _INHERITED[:] = [scan]


def _worker(job: tuple[WorkerWrites, Sequence[str]]) -> tuple[list, int]:
    """Scan a chunk of projects in a forked worker: results, and copies written."""
    writes, chunk = job
    scan = _INHERITED[0]
    counting = _Counting(writes)
    simple_fd = os.open(f"{scan.root}/{layout.SIMPLE_DIR}", _DIR_FLAGS)
    try:
        results = []
        for project in chunk:
            results.extend(_scan_one(scan, simple_fd, project, counting))
    finally:
        os.close(simple_fd)
    return results, counting.count


class _Counting:
    """A worker's copy writer that counts what it wrote (the parent's barrier needs it)."""

    def __init__(self, writes: WorkerWrites) -> None:
        self.writes, self.link, self.count = writes, writes.link, 0

    def write_copy(self, path: str, data: bytes) -> None:
        self.writes.write_copy(path, data)
        self.count += 1


def scan_projects(
    storage: RepositoryStorage,
    projects: Sequence[str],
    cache: dict[str, CachedPage],
    *,
    bin_of: Callable[[str], str],
    processes: int = 1,
    chunk_size: int = 256,
    progress=None,
    link: bool = False,
    symlinked: Set[str] = frozenset(),
) -> Iterator[Observed | Skipped | Absent]:
    """Scan projects, making every missing ``<sha256>.<form>`` copy.

    In this process copies go through the storage (its hook sees each). Forked
    workers (``processes`` > 1, and only if the storage allows it:
    :meth:`RepositoryStorage.worker_writes`) write copies themselves, create-only
    and not durable, and the count is handed to the storage for its barrier.
    ``bin_of(path)`` gives each scanned page its bin. With ``link``, a missing copy
    is a hard link to the page file instead, where possible (:func:`link_copy`).
    ``symlinked`` names the project directories that are symlinks (their pages
    take the careful path).
    """
    scan = _Scan(str(storage.root), cache, bin_of, symlinked)
    worker_writes = storage.worker_writes(link)
    if worker_writes is None or processes <= 1 or len(projects) < 4 * chunk_size:
        writes = _StorageCopies(storage, link)
        try:
            simple_fd = os.open(f"{scan.root}/{layout.SIMPLE_DIR}", _DIR_FLAGS)
        except FileNotFoundError:
            return
        try:
            for done, project in enumerate(projects, 1):
                yield from _scan_one(scan, simple_fd, project, writes)
                if progress:
                    progress(done, len(projects))
        finally:
            os.close(simple_fd)
        return
    chunks = [projects[i : i + chunk_size] for i in range(0, len(projects), chunk_size)]
    done = 0
    # The scan (with the stat cache: 1.5 million entries) reaches the workers
    # through fork, as the initializer's argument; only chunks of names are pickled.
    with fork_pool(processes, _inherit, (scan,)) as pool:
        jobs = [(worker_writes, chunk) for chunk in chunks]
        for chunk, (results, written) in zip(chunks, pool.imap(_worker, jobs), strict=True):
            storage.written_by_workers(written)
            yield from results
            done += len(chunk)
            if progress:
                progress(done, len(projects))
