"""Keys: generation, encrypted key files, and finding the signer for a public key.

A private key at rest is a small JSON file: the public key in the clear (so a
directory of keys can be listed and matched against metadata without any
passphrase) and the PKCS#8 (PEM) private key sealed with NaCl's SecretBox under a key
derived from a passphrase by Argon2id. Keys that live elsewhere (a PKCS#11 HSM, a
cloud KMS) are named by securesystemslib signer URIs in ``signers.json`` in the
same directory, so the publisher asks one place for "the signer of key X".

Online and offline keys are sealed under different secrets (``TUF_PYPI_PASSPHRASE``
and ``TUF_PYPI_OFFLINE_PASSPHRASE``) and with different Argon2id limits: the online
key is opened by every publish, an offline key only in a ceremony, so offline keys
pay for libsodium's "sensitive" limits (1 GiB, 4 passes: seconds per open) and
online keys use the "interactive" ones (64 MiB, about 0.1 s).

A key's id is only trusted as the sha256 of the canonical JSON of the key value
(:func:`computed_keyid`): a document naming a known id beside some other public key
is refused wherever keys are read, so an id always stands for one key value.

Passphrases and private bytes never appear in messages or exceptions raised here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.exceptions import UnsupportedLibraryError
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import CryptoSigner, Key, Signer, SSlibKey

from . import layout
from .errors import RepoError

__all__ = [
    "HSM_PIN_ENV",
    "KDF_LIMITS",
    "KEY_FILE_SUFFIX",
    "OFFLINE_KDF",
    "OFFLINE_PASSPHRASE_ENV",
    "ONLINE_KDF",
    "PASSPHRASE_ENV",
    "SIGNERS_FILE",
    "KdfLimits",
    "KeyDirectory",
    "KeyFileError",
    "OfflineSigners",
    "PassphraseSource",
    "computed_keyid",
    "generate_key_file",
    "load_key_file_signer",
    "load_public_key",
    "new_key_file",
    "new_role_key_files",
    "public_key_document",
    "read_public_key",
    "require_distinct_passphrases",
]

KEY_FILE_SUFFIX = ".key"
SIGNERS_FILE = "signers.json"
#: Passphrase of the online key (the one publish, refresh, apply and recover open).
PASSPHRASE_ENV = "TUF_PYPI_PASSPHRASE"
#: Passphrase of offline key files (root, targets, bins): never set on the publishing host.
OFFLINE_PASSPHRASE_ENV = "TUF_PYPI_OFFLINE_PASSPHRASE"
#: PIN of a PKCS#11 token (user PIN), for keys named by ``hsm:`` signer URIs.
HSM_PIN_ENV = "TUF_PYPI_HSM_PIN"
_FORMAT = "tuf-pypi-key-v1"


@dataclass(frozen=True)
class KdfLimits:
    """Argon2id cost of opening a key file; recorded in each file, so files may differ."""

    name: str
    opslimit: int
    memlimit: int


#: libsodium's named limits (the memory is needed once per open, then freed).
KDF_LIMITS = {
    limits.name: limits
    for limits in (
        KdfLimits("interactive", argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
        KdfLimits("moderate", argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
        KdfLimits("sensitive", argon2id.OPSLIMIT_SENSITIVE, argon2id.MEMLIMIT_SENSITIVE),
    )
}
#: The online key is opened by every publish and cron refresh: 64 MiB, ~0.1-0.2 s.
ONLINE_KDF = KDF_LIMITS["interactive"]
#: Offline keys are opened a few times a year: 1 GiB, ~6 s (measured), to slow down guessing.
OFFLINE_KDF = KDF_LIMITS["sensitive"]

#: Called with a human label of the key ("keys/online.key") to get its passphrase.
PassphraseSource = Callable[[str], str]


class KeyFileError(RepoError):
    """A key file that cannot be used; the message names the file, never a secret."""


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit, memlimit
    )


def _new_private_key(keytype: str) -> CryptoSigner:
    if keytype == "ed25519":
        return CryptoSigner.generate_ed25519()
    if keytype == "ecdsa":
        return CryptoSigner.generate_ecdsa()
    raise KeyFileError(f"unsupported key type {keytype!r} (use ed25519 or ecdsa)")


def computed_keyid(key: Key) -> str:
    """The id securesystemslib and python-tuf give ``key``: sha256 of its canonical JSON.

    This is the key's fingerprint: two keys with the same computed id have the same
    type, scheme and public value. A ``keyid`` read from a file is only a claim.
    """
    return hashlib.sha256(encode_canonical(key.to_dict()).encode()).hexdigest()


def require_distinct_passphrases(online: str, offline: Iterable[str]) -> None:
    """Refuse an online passphrase that would also open an offline key.

    The online passphrase sits on the publishing host (cron, a unit file); if it
    opened root, targets or bins, a compromise of that host would be total.
    """
    if any(online == secret for secret in offline):
        raise KeyFileError(
            f"the online key's passphrase ({PASSPHRASE_ENV}) must differ from the offline "
            f"keys' passphrase ({OFFLINE_PASSPHRASE_ENV}): the publishing host knows the "
            "online one"
        )


def new_key_file(
    path: Path, passphrase: str, keytype: str = "ed25519", *, limits: KdfLimits = OFFLINE_KDF
) -> CryptoSigner:
    """Create a new private key sealed under ``passphrase`` at ``path`` (mode 0600).

    Returns the signer, so a caller that signs right away (``init``) does not pay
    for opening the file again. Refuses to overwrite: losing a root key by accident
    is not recoverable. ``limits`` defaults to the offline keys' (sensitive) cost;
    pass :data:`ONLINE_KDF` for the online key.
    """
    if not passphrase:
        raise KeyFileError(f"{path}: an empty passphrase is not allowed")
    signer = _new_private_key(keytype)
    public = signer.public_key
    pem = signer.private_bytes  # PKCS#8 PEM, unencrypted: sealed below
    salt = nacl.utils.random(argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, limits.opslimit, limits.memlimit))
    document = {
        "format": _FORMAT,
        "public": {"keyid": public.keyid, **public.to_dict()},
        "kdf": {
            "name": "argon2id",
            "limits": limits.name,
            "opslimit": limits.opslimit,
            "memlimit": limits.memlimit,
            "salt": salt.hex(),
        },
        "sealed": box.encrypt(pem).hex(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return signer


def generate_key_file(
    path: Path, passphrase: str, keytype: str = "ed25519", *, limits: KdfLimits = OFFLINE_KDF
) -> SSlibKey:
    """Like :func:`new_key_file`, returning only the public key."""
    public = new_key_file(path, passphrase, keytype, limits=limits).public_key
    assert isinstance(public, SSlibKey)
    return public


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    except PermissionError:
        raise KeyFileError(f"{path}: key file is not readable (permission denied)") from None
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: not a tuf-pypi key file (not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise KeyFileError(f"{path}: not a tuf-pypi key file")
    return document


def _public_key(document: Any, path: Path, what: str) -> SSlibKey:
    """The key of a ``{"keyid": ..., "keytype": ...}`` document, its id checked."""
    try:
        public = dict(document)
        keyid = public.pop("keyid")
        key = SSlibKey.from_dict(keyid, public)
    except (KeyError, ValueError, TypeError):
        raise KeyFileError(f"{path}: {what}") from None
    computed = computed_keyid(key)
    if computed != keyid:
        raise KeyFileError(
            f"{path}: keyid {keyid} is not the id of the public key it holds "
            f"(that key's id is {computed}); refusing a key swapped behind another id"
        )
    return key


def read_public_key(path: Path) -> SSlibKey:
    """The public half of a key file; needs no passphrase. Its keyid is checked."""
    return _public_key(_read_document(path)["public"], path, "malformed public key")


def public_key_document(key: Key) -> dict[str, Any]:
    """The public key as JSON: keyid, keytype, scheme, keyval (what ``key show`` prints).

    The same document is accepted back by :func:`load_public_key`, so a key holder
    can hand over a public key without the (encrypted) private one.
    """
    return {"keyid": key.keyid, **key.to_dict()}


def load_public_key(path: Path) -> Key:
    """The public key in a tuf-pypi key file or a public key document."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    except (ValueError, UnicodeDecodeError, OSError):
        raise KeyFileError(f"{path}: not a key file or public key (not JSON)") from None
    if isinstance(document, dict) and document.get("format") == _FORMAT:
        return read_public_key(path)
    return _public_key(document, path, "not a key file or public key document")


def load_key_file_signer(path: Path, passphrase: str) -> CryptoSigner:
    """Open a key file. A wrong passphrase and a tampered file both fail closed."""
    document = _read_document(path)
    public = read_public_key(path)
    try:
        kdf = document["kdf"]
        key = _derive(passphrase, bytes.fromhex(kdf["salt"]), kdf["opslimit"], kdf["memlimit"])
        pem = nacl.secret.SecretBox(key).decrypt(bytes.fromhex(document["sealed"]))
    except nacl.exceptions.CryptoError:
        raise KeyFileError(f"{path}: wrong passphrase (or the key file was altered)") from None
    except (KeyError, ValueError, TypeError):
        raise KeyFileError(f"{path}: malformed key file") from None
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyFileError(f"{path}: unsupported private key type")
    # The public half is stored in the clear: make sure it belongs to the sealed key.
    derived = SSlibKey.from_crypto(private.public_key(), scheme=public.scheme)
    if derived.keyval != public.keyval:
        raise KeyFileError(f"{path}: public key does not match the sealed private key")
    return CryptoSigner(private, public)


@dataclass(frozen=True)
class OfflineSigners:
    """Signers of keys the holders generated themselves (``tuf-pypi key generate``).

    The better ceremony: ``init`` never creates (or knows the secret of) an offline key.
    """

    root: tuple[Signer, ...]
    targets: Signer
    bins: Signer

    def by_label(self) -> dict[str, Signer]:
        labels = {f"root-{i}": s for i, s in enumerate(self.root, start=1)}
        labels.update(targets=self.targets, bins=self.bins)
        ids = [s.public_key.keyid for s in labels.values()]
        if len(set(ids)) != len(ids):
            raise KeyFileError("the same key is given for two offline roles or root keys")
        return labels


def new_role_key_files(
    files: dict[str, Path],
    keytype: str,
    passphrase: str,
    offline_passphrase: str | None,
    offline_kdf: KdfLimits,
) -> dict[str, Signer]:
    """New key files for ``init``: ``"online"`` under ``passphrase`` with the online
    limits, every other label under ``offline_passphrase`` with ``offline_kdf``."""
    signers: dict[str, Signer] = {}
    for label, path in files.items():
        if label == "online":
            signers[label] = new_key_file(path, passphrase, keytype, limits=ONLINE_KDF)
        else:
            assert offline_passphrase is not None
            signers[label] = new_key_file(path, offline_passphrase, keytype, limits=offline_kdf)
    return signers


@dataclass
class KeyDirectory:
    """A directory of key files plus ``signers.json`` (keyid -> signer URI).

    ``passphrase`` (the online key's) is asked for lazily, only when a key file has
    to be opened; ``offline_passphrase`` only when a command needs an offline role's
    key here (``rebin`` signs bins), so the two secrets never stand in for each other.
    """

    path: Path
    passphrase: PassphraseSource | None = None
    offline_passphrase: PassphraseSource | None = None
    #: Asked for a token's PIN when TUF_PYPI_HSM_PIN is not set.
    pin: PassphraseSource | None = None

    def key_files(self) -> Iterator[tuple[Path, SSlibKey]]:
        """Every readable key file with its public key, sorted by file name."""
        if not self.path.is_dir():
            return
        for file in sorted(self.path.glob(f"*{KEY_FILE_SUFFIX}")):
            yield file, read_public_key(file)

    def external_signers(self) -> dict[str, str]:
        """keyid -> signer URI for keys held outside key files (HSM, KMS)."""
        file = self.path / SIGNERS_FILE
        if not file.exists():
            return {}
        try:
            data = json.loads(file.read_bytes())
            return {str(k): str(v["uri"]) for k, v in data.items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            raise KeyFileError(f"{file}: malformed (expected {{keyid: {{'uri': ...}}}})") from None

    def add_external_signer(self, uri: str, key: Key) -> Path:
        """Record that ``key`` is held elsewhere (an HSM, a KMS) and reached via ``uri``."""
        file = self.path / SIGNERS_FILE
        data = json.loads(file.read_bytes()) if file.exists() else {}
        data[key.keyid] = {"uri": uri, "public": public_key_document(key)}
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{SIGNERS_FILE}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, file)
        return file

    def location_of(self, keyid: str) -> str:
        """Where the private key is: "file <path>", "hsm", "<scheme> (external)" or "not here"."""
        uri = self.external_signers().get(keyid)
        if uri is not None:
            scheme = uri.split(":", 1)[0]
            return "hsm" if scheme == "hsm" else f"{scheme} (external signer)"
        file = self.find_key_file(keyid)
        return f"file {file}" if file is not None else "not here"

    def _secret(self, what: str) -> str:
        pin = os.environ.get(HSM_PIN_ENV)
        if pin:
            return pin
        if self.pin is None:
            raise KeyFileError(f"a {what} is needed for the key in {self.path} (set {HSM_PIN_ENV})")
        return self.pin(what)

    def find_key_file(self, keyid: str) -> Path | None:
        for file, public in self.key_files():
            if public.keyid == keyid:
                return file
        return None

    def signer_for(self, key: Key, role: str) -> Signer:
        """A signer for ``key``, from a key file or an external signer URI."""
        uri = self.external_signers().get(key.keyid)
        if uri is not None:
            try:
                return Signer.from_priv_key_uri(uri, key, self._secret)
            except UnsupportedLibraryError:
                raise KeyFileError(
                    f"key {key.keyid} for role {role!r} is at {uri}: install tuf-pypi[hsm]"
                ) from None
        file = self.find_key_file(key.keyid)
        if file is None:
            raise KeyFileError(
                f"no key for role {role!r} (keyid {key.keyid[:16]}...) in {self.path}: "
                f"copy its key file there or list it in {SIGNERS_FILE}"
            )
        offline = role in layout.OFFLINE_ROLES
        source = self.offline_passphrase if offline else self.passphrase
        if source is None:
            env = OFFLINE_PASSPHRASE_ENV if offline else PASSPHRASE_ENV
            raise KeyFileError(f"{file}: a passphrase is needed (set {env})")
        return load_key_file_signer(file, source(str(file)))
