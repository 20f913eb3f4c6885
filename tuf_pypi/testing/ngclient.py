"""python-tuf's own client, pointed at an index: the reference every test checks against."""

from __future__ import annotations

from pathlib import Path

from tuf.ngclient import Updater, UpdaterConfig

__all__ = ["ngclient_updater", "updater_for"]


def ngclient_updater(url: str, root: bytes, cache: Path, **kwargs: object) -> Updater:
    """python-tuf's own client for the index at ``url``, configured for its layout.

    Metadata under ``<url>/tuf/``, page targets under ``<url>/`` with consistent
    snapshot names (``<sha256>.index.html``); downloads go to ``cache/downloads``.
    """
    (cache / "downloads").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(cache),
        metadata_base_url=f"{url}/tuf/",
        target_base_url=f"{url}/",
        target_dir=str(cache / "downloads"),
        config=UpdaterConfig(prefix_targets_with_hash=True),
        bootstrap=root,
        **kwargs,  # type: ignore[arg-type]
    )


def updater_for(url: str, repo: Path, cache: Path) -> Updater:
    """ngclient for ``repo`` served at ``url``, trusting the repository's first root."""
    return ngclient_updater(url, (repo / "tuf" / "1.root.json").read_bytes(), cache)
