"""Encrypted key files for the ceremony tests, made and opened with the test passphrases."""

from __future__ import annotations

from pathlib import Path

from securesystemslib.signer import CryptoSigner, SSlibKey

from tuf_pypi.keys import generate_key_file, load_key_file_signer
from tuf_pypi.testing.passphrases import OFFLINE_PASSPHRASE, PASSPHRASE, TEST_KDF

__all__ = ["new_key", "signer"]


def _secret(online: bool) -> str:
    return PASSPHRASE if online else OFFLINE_PASSPHRASE


def new_key(
    directory: Path, name: str, keytype: str = "ed25519", online: bool = False
) -> tuple[Path, SSlibKey]:
    """A new encrypted key file ``name.key`` in ``directory`` and its public key."""
    path = directory / f"{name}.key"
    return path, generate_key_file(path, _secret(online), keytype, limits=TEST_KDF)


def signer(path: Path, online: bool = False) -> CryptoSigner:
    """Open an offline key file (or, with ``online``, an online one)."""
    return load_key_file_signer(path, _secret(online))
