"""Encrypted key files: round trip, wrong passphrase, tampering, no secrets in errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tuf_pypi.keys import (
    KeyDirectory,
    KeyFileError,
    generate_key_file,
    load_key_file_signer,
    read_public_key,
)
from tuf_pypi.testing.passphrases import TEST_KDF

SECRET = "s3cret-passphrase-xyz"


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "online.key"
    public = generate_key_file(path, SECRET, limits=TEST_KDF)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_public_key(path) == public
    signer = load_key_file_signer(path, SECRET)
    sig = signer.sign(b"payload")
    public.verify_signature(sig, b"payload")
    text = path.read_text()
    assert SECRET not in text
    assert "PRIVATE" not in text  # the PEM is sealed, never in the clear


def test_ecdsa_keys_work_too(tmp_path: Path) -> None:
    public = generate_key_file(tmp_path / "hsm-like.key", SECRET, keytype="ecdsa", limits=TEST_KDF)
    signer = load_key_file_signer(tmp_path / "hsm-like.key", SECRET)
    public.verify_signature(signer.sign(b"x"), b"x")
    assert public.scheme == "ecdsa-sha2-nistp256"


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "root-1.key"
    generate_key_file(path, SECRET, limits=TEST_KDF)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_key_file(path, SECRET, limits=TEST_KDF)
    assert path.read_bytes() == before


def test_wrong_passphrase_names_file_not_secret(tmp_path: Path) -> None:
    path = tmp_path / "online.key"
    generate_key_file(path, SECRET, limits=TEST_KDF)
    with pytest.raises(KeyFileError) as info:
        load_key_file_signer(path, "guess-" + SECRET)
    assert "wrong passphrase" in str(info.value) and str(path) in str(info.value)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_swapped_public_key_is_detected(tmp_path: Path) -> None:
    a, b = tmp_path / "a.key", tmp_path / "b.key"
    generate_key_file(a, SECRET, limits=TEST_KDF)
    generate_key_file(b, SECRET, limits=TEST_KDF)
    doc = json.loads(a.read_text())
    doc["public"] = json.loads(b.read_text())["public"]
    a.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="does not match"):
        load_key_file_signer(a, SECRET)


@pytest.mark.parametrize("content", [b"", b"not json", b"{}", b"\xff\xfe", b"[]"])
def test_malformed_key_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match=r"bad\.key"):
        load_key_file_signer(path, SECRET)


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        read_public_key(tmp_path / "nope.key")


def test_key_directory_finds_signer_by_keyid(tmp_path: Path) -> None:
    public = generate_key_file(tmp_path / "online.key", SECRET, limits=TEST_KDF)
    generate_key_file(tmp_path / "other.key", SECRET, limits=TEST_KDF)
    keys = KeyDirectory(tmp_path, passphrase=lambda label: SECRET)
    assert keys.find_key_file(public.keyid) == tmp_path / "online.key"
    keys.signer_for(public, "timestamp").sign(b"x")
    empty = KeyDirectory(tmp_path / "empty", passphrase=lambda label: SECRET)
    with pytest.raises(KeyFileError, match="no key for role 'timestamp'"):
        empty.signer_for(public, "timestamp")
