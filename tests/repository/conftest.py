"""Fixtures: a sample index signed by the real publisher, with an injectable clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nacl.pwhash.argon2id as argon2id
import pytest

from tuf_pypi import layout
from tuf_pypi.keys import KdfLimits, KeyDirectory
from tuf_pypi.repository import Publisher, RepositoryStorage, init_repository
from tuf_pypi.sample import build_index

#: The online key's passphrase (TUF_PYPI_PASSPHRASE); offline keys have their own.
PASSPHRASE = "correct horse battery staple"
OFFLINE_PASSPHRASE = "offline: tr0ub4dor&3, kept off the publishing host"
#: Argon2id at its minimum, passed explicitly: test keys are throwaway. The default
#: (sensitive) limits of offline keys are tested in tests/keys/test_passphrases.py.
TEST_KDF = KdfLimits("test-only", argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
#: The offline half of ``init_repository``'s arguments, for every test repository.
OFFLINE = {"offline_passphrase": OFFLINE_PASSPHRASE, "offline_kdf": TEST_KDF}


@dataclass
class Clock:
    """A clock tests move by hand instead of waiting."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class SignedRepo:
    repo: Path
    keys_dir: Path
    clock: Clock

    def publisher(self, **kwargs) -> Publisher:
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


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def make_repo(tmp_path: Path, clock: Clock) -> Callable[..., SignedRepo]:
    """Build the sample index, init a repository over it; publish unless told not to."""

    def factory(bins: int = 16, publish: bool = True, name: str = "r") -> SignedRepo:
        repo = tmp_path / name / "repo"
        keys_dir = tmp_path / name / "keys"
        build_index(repo)
        init_repository(repo, keys_dir, PASSPHRASE, **OFFLINE, number_of_bins=bins, now=clock())
        signed = SignedRepo(repo, keys_dir, clock)
        if publish:
            signed.publisher().publish()
        return signed

    return factory


def targets_of(repo: Path) -> list[str]:
    """Every page target present under ``repo/simple/``."""
    return sorted(
        f"simple/{d.name}/{form}"
        for d in (repo / "simple").iterdir()
        if d.is_dir()
        for form in layout.PAGE_FORMS
        if (d / form).exists()
    )
