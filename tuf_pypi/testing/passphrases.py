"""The passphrases and key-derivation limits of every test repository's keys."""

from __future__ import annotations

import nacl.pwhash.argon2id as argon2id

from tuf_pypi.keys import KdfLimits

__all__ = ["OFFLINE", "OFFLINE_PASSPHRASE", "PASSPHRASE", "TEST_KDF"]

#: The online key's passphrase (TUF_PYPI_PASSPHRASE); offline keys have their own.
PASSPHRASE = "correct horse battery staple"
OFFLINE_PASSPHRASE = "offline: tr0ub4dor&3, kept off the publishing host"
#: Argon2id at its minimum, passed explicitly: test keys are throwaway. The default
#: (sensitive) limits of offline keys are tested in tests/keys/test_passphrases.py.
TEST_KDF = KdfLimits("test-only", argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
#: The offline half of ``init_repository``'s arguments, for every test repository.
OFFLINE = {"offline_passphrase": OFFLINE_PASSPHRASE, "offline_kdf": TEST_KDF}
