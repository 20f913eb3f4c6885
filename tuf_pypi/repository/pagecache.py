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
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import layout, pages
from .bulk import fast_write
from .scan import Page, Skipped, read_page
from .storage import RepositoryStorage

__all__ = ["CachedPage", "PageCache", "ScannedPage", "scan_projects"]

_VERSION = "tuf-pypi-page-cache 1"
#: (size, mtime_ns, ctime_ns, inode)
StatKey = tuple[int, int, int, int]


@dataclass(frozen=True)
class CachedPage:
    key: StatKey
    sha256: str
    unverifiable: int


@dataclass(frozen=True)
class ScannedPage:
    """A page eligible for signing, as the full scan saw it (no bytes kept)."""

    project: str
    form: str
    sha256: str
    length: int
    unverifiable: int
    key: StatKey | None
    copy_written: bool

    @property
    def path(self) -> str:
        return f"{layout.SIMPLE_DIR}/{self.project}/{self.form}"


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
                    entries[path] = CachedPage(key, digest, int(unverifiable))
                self.entries = entries
        except (OSError, ValueError):
            self.entries = {}
        return self

    def save(self) -> None:
        lines = [_VERSION + "\n"]
        for path, e in self.entries.items():
            size, mtime, ctime, ino = e.key
            lines.append(f"{path}\t{size}\t{mtime}\t{ctime}\t{ino}\t{e.sha256}\t{e.unverifiable}\n")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            fast_write(str(self.file), "".join(lines).encode())

    def update(self, scanned: Sequence[ScannedPage]) -> None:
        entries = {}
        for page in scanned:
            if page.key is not None:
                entries[page.path] = CachedPage(page.key, page.sha256, page.unverifiable)
        self.entries = entries


def _key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# Set in the parent before forking workers, so they inherit it without pickling.
_WORKER: dict[str, object] = {}


def _copy_present(project_dir: str, name: str, names: set[str], length: int) -> bool:
    if name not in names:
        return False
    try:
        return os.stat(f"{project_dir}/{name}").st_size == length
    except OSError:
        return False


def _scan_one(
    storage: RepositoryStorage,
    project: str,
    cache: dict[str, CachedPage],
    write,
) -> list[ScannedPage | Skipped | tuple[str, str]]:
    """Both forms of one project; ``(project, form)`` for an absent page."""
    root = str(storage.root)
    project_dir = f"{root}/{layout.SIMPLE_DIR}/{project}"
    out: list[ScannedPage | Skipped | tuple[str, str]] = []
    try:
        names = set(os.listdir(project_dir))
        slow = os.path.islink(project_dir)
    except OSError:
        names, slow = set(), True
    for form in layout.PAGE_FORMS:
        target = f"{layout.SIMPLE_DIR}/{project}/{form}"
        if form not in names and not slow:
            out.append((project, form))
            continue
        try:
            st = os.lstat(f"{project_dir}/{form}")
        except FileNotFoundError:
            out.append((project, form))
            continue
        except OSError:
            st = None
        if slow or st is None or not stat.S_ISREG(st.st_mode):
            # Symlinks, odd files: the careful path, which checks where they lead.
            page = read_page(storage, project, form)
            if page is None:
                out.append((project, form))
            elif isinstance(page, Skipped):
                out.append(page)
            else:
                out.append(_finish(page, None, project_dir, names, write))
            continue
        key = _key(st)
        hit = cache.get(target)
        if hit is not None and hit.key == key:
            copy = layout.consistent_name(form, hit.sha256)
            if _copy_present(project_dir, copy, names, key[0]):
                out.append(
                    ScannedPage(project, form, hit.sha256, key[0], hit.unverifiable, key, False)
                )
                continue
        if st.st_size > pages.MAX_PAGE_BYTES:
            out.append(
                Skipped(target, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")
            )
            continue
        try:
            fd = os.open(f"{project_dir}/{form}", os.O_RDONLY)
            try:
                data = _read_all(fd, st.st_size)
            finally:
                os.close(fd)
        except OSError as e:
            out.append(Skipped(target, f"cannot be read ({e.strerror})"))
            continue
        if len(data) > pages.MAX_PAGE_BYTES:
            out.append(
                Skipped(target, f"larger than the page size limit of {pages.MAX_PAGE_BYTES} bytes")
            )
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
        stable = len(data) == key[0]
        out.append(_finish(page, key if stable else None, project_dir, names, write))
    return out


def _read_all(fd: int, size_hint: int) -> bytes:
    chunks = []
    want = max(size_hint, 1) + 1
    while True:
        chunk = os.read(fd, min(want, pages.MAX_PAGE_BYTES + 1))
        if not chunk:
            break
        chunks.append(chunk)
        if sum(len(c) for c in chunks) > pages.MAX_PAGE_BYTES:
            break
        want = 1 << 20
    return b"".join(chunks)


def _finish(page: Page, key: StatKey | None, project_dir: str, names: set[str], write):
    copy = layout.consistent_name(page.form, page.sha256)
    written = False
    if not _copy_present(project_dir, copy, names, page.length):
        write(f"{project_dir}/{copy}", page.data)
        written = True
    return ScannedPage(
        page.project, page.form, page.sha256, page.length, page.unverifiable, key, written
    )


def _worker(chunk: Sequence[str]) -> list:
    storage = _WORKER["storage"]
    cache = _WORKER["cache"]
    results = []
    for project in chunk:
        results.extend(_scan_one(storage, project, cache, fast_write))  # type: ignore[arg-type]
    return results


def scan_projects(
    storage: RepositoryStorage,
    projects: Sequence[str],
    cache: dict[str, CachedPage],
    *,
    write,
    processes: int = 1,
    chunk_size: int = 256,
    progress=None,
) -> Iterator[ScannedPage | Skipped | tuple[str, str]]:
    """Scan projects (in ``processes`` forked workers when > 1), writing missing copies.

    ``write(path, data)`` writes a page copy in this process; forked workers always
    use :func:`fast_write`, so the caller must sync the file system afterwards.
    """
    if processes <= 1 or len(projects) < 4 * chunk_size:
        for done, project in enumerate(projects, 1):
            yield from _scan_one(storage, project, cache, write)
            if progress:
                progress(done, len(projects))
        return
    _WORKER.update(storage=storage, cache=cache)
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
