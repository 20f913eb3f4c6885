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
import multiprocessing
import os
import stat
from collections.abc import Callable, Iterator, Sequence, Set
from pathlib import Path
from typing import NamedTuple

from .. import layout, pages
from .bulk import fast_write
from .scan import Page, Skipped, read_page
from .storage import RepositoryStorage

__all__ = ["CachedPage", "PageCache", "ScannedPage", "link_copy", "scan_projects"]

_VERSION = "tuf-pypi-page-cache 1"
#: (size, mtime_ns, ctime_ns, inode)
StatKey = tuple[int, int, int, int]


class CachedPage(NamedTuple):
    """What a page gave when it was last hashed and parsed, keyed by its ``lstat``.

    Tuples, not dataclasses: a full publish at PyPI scale makes 1.5 million of
    each, and passes the scanned ones between processes.
    """

    key: StatKey
    sha256: str
    unverifiable: int


class ScannedPage(NamedTuple):
    """A page eligible for signing, as the full scan saw it (no bytes kept).

    ``bin`` is the hash bin of ``path``, computed by the worker that scanned it,
    so the publishing process does not hash 1.5 million paths itself.
    """

    path: str
    bin: str
    sha256: str
    length: int
    unverifiable: int
    key: StatKey | None
    copy_written: bool
    #: The page file was edited in place since the last scan (same inode, other
    #: stat): with linked copies, its previously signed copy changed with it.
    edited_in_place: bool = False


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

    def save(self, scanned: Sequence[ScannedPage]) -> None:
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
            fast_write(str(self.file), "".join(lines).encode())


def _key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# Set in the parent before forking workers, so they inherit it without pickling.
_WORKER: dict[str, object] = {}

#: Open a page without following a symlink, blocking on a FIFO or taking a terminal.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY


def _copy_present(copy: str, length: int) -> bool:
    try:
        st = os.stat(copy)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == length


def _too_large(target: str) -> Skipped:
    return Skipped(target, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")


def _scan_one(
    storage: RepositoryStorage,
    project: str,
    cache: dict[str, CachedPage],
    write,
    bin_of: Callable[[str], str],
    link: bool = False,
    symlinked: Set[str] = frozenset(),
) -> list[ScannedPage | Skipped | tuple[str, str]]:
    """Both forms of one project; ``(project, form)`` for an absent page.

    A page the stat cache knows costs one ``lstat`` and one ``stat`` of its copy;
    any other is opened straight away (``O_NOFOLLOW``; ``fstat`` tells whether it
    is a regular file). No directory listing: at PyPI scale a ``listdir`` per
    project costs more than everything else a cached page needs.
    """
    project_dir = f"{storage.root}/{layout.SIMPLE_DIR}/{project}"
    slow = project in symlinked
    out: list[ScannedPage | Skipped | tuple[str, str]] = []
    for form in layout.PAGE_FORMS:
        target = f"{layout.SIMPLE_DIR}/{project}/{form}"
        page_path = f"{project_dir}/{form}"
        hit = cache.get(target)
        edited = False
        if hit is not None or slow:  # else no lstat: the open below tells as much
            try:
                st = None if slow else os.lstat(page_path)
            except FileNotFoundError:
                out.append((project, form))
                continue
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                out.append(_scan_carefully(storage, project, form, write, bin_of))
                continue
            if st.st_size > pages.MAX_PAGE_BYTES:
                out.append(_too_large(target))
                continue
            key = _key(st)
            # Same inode, other size or times, and another name (a linked copy):
            # written in place, not replaced, and the copy changed with it. (A
            # replaced page's old inode lives on as its copy, so the number cannot
            # have been reused meanwhile.)
            edited = hit is not None and hit.key[3] == key[3] and hit.key != key and st.st_nlink > 1
            if hit is not None and hit.key == key:
                copy = f"{project_dir}/{layout.consistent_name(form, hit.sha256)}"
                if _copy_present(copy, key[0]):
                    out.append(
                        ScannedPage(
                            target, bin_of(target), hit.sha256, key[0], hit.unverifiable, key, False
                        )
                    )
                    continue
        try:
            fd = os.open(page_path, _OPEN_FLAGS)
            try:
                opened = os.fstat(fd)
                data = _read_all(fd, opened.st_size) if stat.S_ISREG(opened.st_mode) else None
            finally:
                os.close(fd)
        except FileNotFoundError:
            out.append((project, form))
            continue
        except OSError as e:
            if e.errno == errno.ELOOP:  # a symlink (O_NOFOLLOW): the careful path
                out.append(_scan_carefully(storage, project, form, write, bin_of))
            else:
                out.append(Skipped(target, f"cannot be read ({e.strerror})"))
            continue
        if data is None:
            out.append(_scan_carefully(storage, project, form, write, bin_of))
            continue
        if len(data) > pages.MAX_PAGE_BYTES:
            out.append(_too_large(target))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if hit is not None and hit.sha256 == digest and hit.key[0] == len(data):
            unverifiable = hit.unverifiable  # same bytes as when parsed: no need to parse
        else:
            try:
                unverifiable = pages.check_page(data, form, target)
            except pages.PageError as e:
                out.append(Skipped(target, e.reason))
                continue
        page = Page(project, form, data, digest, unverifiable)
        key = _key(opened) if len(data) == opened.st_size else None
        # A page edited in place would change a linked copy again: its copy gets
        # bytes of its own from now on.
        link_to = opened if link and not edited else None
        scanned = _finish(page, bin_of(target), key, project_dir, write, link_to)
        out.append(scanned._replace(edited_in_place=True) if edited else scanned)
    return out


def _scan_carefully(storage: RepositoryStorage, project: str, form: str, write, bin_of):
    """Symlinks and odd files: the careful path, which checks where they lead."""
    page = read_page(storage, project, form)
    if page is None:
        return (project, form)
    if isinstance(page, Skipped):
        return page
    project_dir = f"{storage.root}/{layout.SIMPLE_DIR}/{project}"
    return _finish(page, bin_of(page.path), None, project_dir, write, None)


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
    write,
    read_from: os.stat_result | None,
) -> ScannedPage:
    """The scanned page, after making sure its consistent copy is there.

    With ``read_from`` (the ``fstat`` of the page file that was read) the copy is
    first tried as a hard link to that very file (:func:`link_copy`): one system
    call, which also finds out whether the copy exists already. Linking changes
    the file's ctime, so the stat key is taken again.
    """
    copy = f"{project_dir}/{layout.consistent_name(page.form, page.sha256)}"
    written = True
    if read_from is not None and (
        linked := link_copy(f"{project_dir}/{page.form}", copy, read_from)
    ):
        key = _key(linked) if key is not None else None
    elif _copy_present(copy, page.length):
        written = False
    else:
        write(copy, page.data)
    return ScannedPage(
        page.path, bin_name, page.sha256, page.length, page.unverifiable, key, written
    )


def link_copy(page_path: str, copy: str, read_from: os.stat_result) -> os.stat_result | None:
    """Make ``copy`` a hard link to the page file that was read; its ``lstat``, or None.

    None means "write the bytes instead": linking is not possible here (another
    file system, a file system without hard links, a stale file at ``copy``), or
    the page was replaced between reading and linking, so the link would name
    other bytes (the stray link is removed). A hard link costs no inode, no data
    and no rename: on ext4 about a twentieth of writing a copy.
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


def _worker(chunk: Sequence[str]) -> list:
    storage = _WORKER["storage"]
    cache = _WORKER["cache"]
    link = bool(_WORKER["link"])
    symlinked = _WORKER["symlinked"]
    bin_of = _WORKER["bin_of"]
    results = []
    for project in chunk:
        results.extend(
            _scan_one(storage, project, cache, fast_write, bin_of, link, symlinked)  # type: ignore[arg-type]
        )
    return results


def scan_projects(
    storage: RepositoryStorage,
    projects: Sequence[str],
    cache: dict[str, CachedPage],
    *,
    write,
    bin_of: Callable[[str], str],
    processes: int = 1,
    chunk_size: int = 256,
    progress=None,
    link: bool = False,
    symlinked: Set[str] = frozenset(),
) -> Iterator[ScannedPage | Skipped | tuple[str, str]]:
    """Scan projects (in ``processes`` forked workers when > 1), writing missing copies.

    ``write(path, data)`` writes a page copy in this process; forked workers always
    use :func:`fast_write`, so the caller must sync the file system afterwards.
    ``bin_of(path)`` gives each scanned page its bin. With ``link``, a missing
    copy is a hard link to the page file instead, where possible
    (:func:`link_copy`). ``symlinked`` names the project directories that are
    symlinks (their pages take the careful path).
    """
    if processes <= 1 or len(projects) < 4 * chunk_size:
        for done, project in enumerate(projects, 1):
            yield from _scan_one(storage, project, cache, write, bin_of, link, symlinked)
            if progress:
                progress(done, len(projects))
        return
    _WORKER.update(storage=storage, cache=cache, link=link, symlinked=symlinked, bin_of=bin_of)
    chunks = [projects[i : i + chunk_size] for i in range(0, len(projects), chunk_size)]
    ctx = multiprocessing.get_context("fork")
    done = 0
    try:
        with ctx.Pool(processes) as pool:
            for chunk, results in zip(chunks, pool.imap(_worker, chunks), strict=True):
                yield from results
                done += len(chunk)
                if progress:
                    progress(done, len(projects))
    finally:
        _WORKER.clear()
