"""Create a repository: keys for every role and version 1 of all metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import layout
from ..errors import SettingError
from ..keys import (
    KEY_FILE_SUFFIX,
    OFFLINE_KDF,
    KdfLimits,
    OfflineSigners,
    new_role_key_files,
    require_distinct_passphrases,
)
from . import metadata as md_builder
from .metadata import DEFAULT_EXPIRY, Expiry, InitialKeys, check_root_threshold
from .settings import save_expiry
from .storage import RepositoryStorage, StorageError

__all__ = ["InitReport", "OfflineSigners", "check_can_init", "init_repository"]


@dataclass(frozen=True)
class InitReport:
    key_files: dict[str, Path]
    number_of_bins: int
    root_threshold: int


def _key_labels(root_keys: int) -> list[str]:
    return [f"root-{i}" for i in range(1, root_keys + 1)] + ["targets", "bins"]


def check_can_init(
    repo: Path, keys_dir: Path, root_keys: int = 1, *, offline_keys_here: bool = True
) -> dict[str, Path]:
    """The key files ``init`` would create; StorageError if it would overwrite anything.

    Asked before any passphrase prompt or key generation, so running ``init`` twice
    refuses at once instead of after "Generating keys...". ``offline_keys_here``:
    the offline keys are generated into ``keys_dir`` too (not held elsewhere).
    """
    storage = RepositoryStorage(repo)
    if storage.metadata_dir.exists() and any(storage.metadata_dir.iterdir()):
        raise StorageError(f"{storage.metadata_dir} already exists and is not empty")
    labels = [*(_key_labels(root_keys) if offline_keys_here else []), "online"]
    files = {label: keys_dir / f"{label}{KEY_FILE_SUFFIX}" for label in labels}
    existing = [str(f) for f in files.values() if f.exists()]
    if existing:
        raise StorageError(f"refusing to overwrite existing key files: {', '.join(existing)}")
    return files


def init_repository(
    repo: Path,
    keys_dir: Path,
    passphrase: str,
    *,
    number_of_bins: int,
    now: datetime,
    offline_passphrase: str | None = None,
    offline_signers: OfflineSigners | None = None,
    offline_kdf: KdfLimits = OFFLINE_KDF,
    root_keys: int = 1,
    root_threshold: int = 1,
    expiry: Expiry = DEFAULT_EXPIRY,
    keytype: str = "ed25519",
    storage: RepositoryStorage | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> InitReport:
    """Generate keys in ``keys_dir`` and write version 1 of every role into ``repo/tuf``.

    ``passphrase`` seals the online key only. The offline keys are either generated
    under ``offline_passphrase`` (which must differ from it) with ``offline_kdf``
    limits, or given as ``offline_signers`` (keys the holders made themselves, never
    written to ``keys_dir``). Refuses to touch an existing repository or overwrite
    any key file, before generating anything. ``progress(stage, done, total)`` is
    told as roles are signed (a minute for 16,384 bins).
    """
    if (offline_passphrase is None) == (offline_signers is None):
        raise SettingError("give an offline passphrase or the offline keys, not both or neither")
    held = offline_signers.by_label() if offline_signers is not None else {}
    if offline_signers is not None:
        root_keys = len(offline_signers.root)
    else:
        require_distinct_passphrases(passphrase, [offline_passphrase or ""])
    storage = storage or RepositoryStorage(repo)
    layout.suffix_len(number_of_bins)
    check_root_threshold(root_threshold, root_keys)
    files = check_can_init(repo, keys_dir, root_keys, offline_keys_here=not held)

    new = new_role_key_files(files, keytype, passphrase, offline_passphrase, offline_kdf)
    signers = {**held, **new}
    public = {label: signer.public_key for label, signer in signers.items()}
    keys = InitialKeys(
        root=tuple(public[f"root-{i}"] for i in range(1, root_keys + 1)),
        root_threshold=root_threshold,
        targets=public["targets"],
        bins=public["bins"],
        online=public["online"],
    )
    roles = md_builder.initial_metadata(keys, number_of_bins, now, expiry)
    root_signers = [signers[f"root-{i}"] for i in range(1, root_keys + 1)]
    signer_of = {"root": root_signers, "targets": [signers["targets"]], "bins": [signers["bins"]]}

    # Delegated roles first, root and timestamp last: until timestamp.json exists
    # no client can start from this repository. Nothing is fsynced one by one
    # (16,384 bins would cost seconds): one barrier before the timestamp.
    versions: dict[str, int] = {}
    written: dict[int, bytes] = {}  # the bins share one document: signed once
    for done, (role, md) in enumerate(roles.items(), 1):
        if progress is not None:
            progress("signing roles", done, len(roles))
        if role == "root":
            continue
        data = written.get(id(md))
        if data is None:
            md_builder.sign(md, signer_of.get(role, [signers["online"]]))
            data = written[id(md)] = md_builder.serialize(md)
        storage.write_metadata(layout.metadata_filename(role, 1), data)
        versions[role] = 1
    snapshot = md_builder.new_snapshot(versions, 1, now, expiry)
    md_builder.sign(snapshot, [signers["online"]])
    snapshot_bytes = md_builder.serialize(snapshot)
    storage.write_metadata(layout.metadata_filename("snapshot", 1), snapshot_bytes)
    root_bytes = md_builder.serialize(md_builder.sign(roles["root"], root_signers))
    storage.write_metadata(layout.metadata_filename("root", 1), root_bytes)
    storage.write_metadata(layout.metadata_filename("root"), root_bytes)
    timestamp = md_builder.new_timestamp(snapshot_bytes, 1, 1, now, expiry)
    md_builder.sign(timestamp, [signers["online"]])
    storage.barrier()  # one syncfs for everything above, then the timestamp (fsynced)
    storage.write_metadata(layout.metadata_filename("timestamp"), md_builder.serialize(timestamp))
    storage.sync_dirs()
    save_expiry(keys_dir, expiry)
    return InitReport(files, number_of_bins, root_threshold)
