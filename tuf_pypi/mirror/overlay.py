"""Mirror overlay: a bandersnatch ``web/`` tree gains what TUF clients need, verified.

bandersnatch regenerates the pages it serves, so they are not the bytes the index
signed. The overlay adds the upstream's ``tuf/`` metadata and its signed page copies
(``simple/<p>/<sha256>.index.*``) for the projects bandersnatch has, and nothing else:
no files, no live pages, no root listing; signed links whose files the tree lacks are
listed instead of fetched.

It is apart from :mod:`.sync` because it only decides what to copy: it turns the tree
into :class:`~.sync.SyncOptions` and then runs :func:`~.sync.sync_mirror` itself, the
one place that takes the lock, opens the fetcher and anchors on the trusted root, so
the overlay and a sync verify in exactly the same way.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ..client.errors import SetupError
from ..client.limits import Limits
from .sync import Progress, SyncOptions, SyncReport, sync_mirror
from .tree import MirrorTree

__all__ = ["overlay_mirror"]


def overlay_mirror(
    upstream: str,
    web: Path,
    *,
    root: bytes | None = None,
    options: SyncOptions | None = None,
    limits: Limits | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    wait_for_lock: bool = True,
) -> SyncReport:
    """Add ``tuf/`` and the signed page copies to a bandersnatch ``web/`` tree.

    Only for the projects present under ``web/simple/``. bandersnatch regenerates its
    pages, so they are not the bytes the index signed: TUF clients read the signed
    copies instead, and map their file links onto this mirror's ``packages/``.
    bandersnatch's pages, root listing and ``packages/`` are left untouched; signed
    links whose files the tree lacks are listed in ``missing_files``.
    """
    tree = MirrorTree(web)
    if not tree.simple_dir.is_dir():
        raise SetupError(f"{web} has no simple/ directory: not a bandersnatch web/ tree")
    overlay = replace(
        options or SyncOptions(),
        projects=frozenset(tree.projects()),
        packages=False,
        live_pages=False,
        check_files=True,
    )
    return sync_mirror(
        upstream,
        web,
        root=root,
        options=overlay,
        limits=limits,
        now=now,
        progress=progress,
        wait_for_lock=wait_for_lock,
    )
