"""A sample index signed by the real publisher, on disk, with a clock tests move.

Tests never hand-write a repository: ``build_index`` writes the sample pages and
wheels, ``init_repository`` and ``Publisher`` sign them, as they do in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuf_pypi import layout
from tuf_pypi.keys import KeyDirectory
from tuf_pypi.repository import Publisher, RepositoryStorage, init_repository
from tuf_pypi.sample import build_index

from .clock import Clock
from .passphrases import OFFLINE, OFFLINE_PASSPHRASE, PASSPHRASE

__all__ = ["SignedRepo", "targets_of"]


@dataclass
class SignedRepo:
    """A repository (``repo``), its keys (``keys_dir``) and the clock it is signed by."""

    repo: Path
    keys_dir: Path
    clock: Clock[datetime]

    @classmethod
    def create(
        cls, path: Path, clock: Clock[datetime], bins: int = 16, publish: bool = True
    ) -> SignedRepo:
        """Build the sample index in ``path/repo``, init it (keys in ``path/keys``) and,
        unless told not to, publish it."""
        repo, keys_dir = path / "repo", path / "keys"
        build_index(repo)
        init_repository(repo, keys_dir, PASSPHRASE, **OFFLINE, number_of_bins=bins, now=clock())
        signed = cls(repo, keys_dir, clock)
        if publish:
            signed.publisher().publish()
        return signed

    def publisher(self, **kwargs: Any) -> Publisher:
        keys = KeyDirectory(
            self.keys_dir,
            passphrase=lambda _label: PASSPHRASE,
            offline_passphrase=lambda _label: OFFLINE_PASSPHRASE,
        )
        return Publisher(self.repo, keys, clock=self.clock, **kwargs)

    @property
    def storage(self) -> RepositoryStorage:
        return RepositoryStorage(self.repo)

    def page(self, project: str, form: str = "index.html") -> Path:
        return self.repo / "simple" / project / form


def targets_of(repo: Path) -> list[str]:
    """Every page target present under ``repo/simple/``."""
    return sorted(
        f"simple/{d.name}/{form}"
        for d in (repo / "simple").iterdir()
        if d.is_dir()
        for form in layout.PAGE_FORMS
        if (d / form).exists()
    )
