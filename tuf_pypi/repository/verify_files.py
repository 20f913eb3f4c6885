"""Are the distribution files that signed pages list really under ``packages/``?

Files are not TUF targets (DESIGN §3): a client checks each one against the sha256
its *verified* page gives. So a mirror is only as good as its ``packages/`` tree:
a file that is missing, truncated or swapped makes installs from that mirror fail
(safely, but they fail). This walks every signed page copy, resolves each link as
a client does (``layout.packages_path``, DESIGN §6) and hashes the file it names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .. import layout, pages
from .storage import RepositoryStorage

__all__ = ["FileCheck", "check_files"]

_CHUNK = 1024 * 1024
#: Any base works: only the path of the resolved link matters.
_BASE = "https://mirror.invalid/"


@dataclass
class FileCheck:
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    #: Links outside any packages/ tree: clients fetch those from their own URL.
    elsewhere: int = 0


def _sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_files(
    storage: RepositoryStorage,
    signed_pages: Mapping[str, str],
    progress: Callable[[str, int, int], None] | None = None,
) -> FileCheck:
    """Check every file that the signed pages (target path -> sha256) list.

    A file listed by both forms of a page (or by several pages) is hashed once.
    Problems name the file and the page that lists it.
    """
    result = FileCheck()
    done_files: set[str] = set()
    packages = storage.root / "packages"
    items = sorted(signed_pages.items())
    for done, (path, digest) in enumerate(items, 1):
        if progress is not None:
            progress("files", done, len(items))
        target = layout.parse_page_target(path)
        copy = f"{layout.SIMPLE_DIR}/{target.project}/{layout.consistent_name(target.form, digest)}"
        try:
            page = pages.parse_page((storage.root / copy).read_bytes(), target.form, copy)
        except (OSError, pages.PageError):
            continue  # a missing or bad copy is already a problem of the signed tree
        page_url = f"{_BASE}{layout.SIMPLE_DIR}/{target.project}/"
        for link in page.files:
            try:
                rel = layout.packages_path(page_url, link.url)
            except ValueError as e:
                result.problems.append(f"{path}: {e}")
                continue
            if rel is None:
                result.elsewhere += 1
                continue
            if rel in done_files or link.sha256 is None:
                continue  # unverifiable links are refused by clients and reported by publish
            done_files.add(rel)
            result.checked += 1
            problem = _check_one(storage, packages / rel, link)
            if problem:
                result.problems.append(f"packages/{rel}: {problem} (listed on {path})")
    return result


def _check_one(storage: RepositoryStorage, file, link: pages.FileLink) -> str | None:
    if not storage.inside(file):
        return "symlink pointing outside the repository"
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if link.size is not None and size != link.size:
        return f"is {size} bytes, the signed page says {link.size}"
    try:
        actual = _sha256_of(file)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if actual != link.sha256:
        return "does not match the sha256 on the signed page"
    return None
