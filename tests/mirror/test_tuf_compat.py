"""mirror sync runs on python-tuf's private TrustedMetadataSet: pinned, and checked loudly.

These tests fail with a message saying what to do when python-tuf is upgraded past the
major version the sync is tested with, instead of the sync misbehaving later.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from importlib.metadata import requires

import pytest
import tuf
from packaging.requirements import Requirement
from packaging.version import Version
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root
from tuf.ngclient.config import EnvelopeType

from tuf_pypi.client import SetupError
from tuf_pypi.mirror.sync import TESTED_TUF_MAJOR, TrustedMetadataSet, check_tuf_version

#: What the sync calls, with the parameters it passes (by position).
USED = {
    "__init__": ["self", "root_data", "envelope_type"],
    "update_root": ["self", "data"],
    "update_timestamp": ["self", "data"],
    "update_snapshot": ["self", "data", "trusted"],
    "update_targets": ["self", "data"],
    "update_delegated_targets": ["self", "data", "role_name", "delegator_name"],
    "__getitem__": ["self", "role"],
}


def _tuf_requirement() -> Requirement:
    declared = [Requirement(r) for r in requires("tuf-pypi") or []]
    return next(r for r in declared if r.name == "tuf" and r.marker is None)


def test_the_requirement_pins_the_tested_major() -> None:
    spec = _tuf_requirement().specifier
    assert Version(f"{TESTED_TUF_MAJOR}.0") in spec
    assert Version(f"{TESTED_TUF_MAJOR + 1}.0") not in spec, (
        f"pyproject.toml must pin tuf below {TESTED_TUF_MAJOR + 1}: mirror sync uses "
        "python-tuf's private TrustedMetadataSet"
    )


def test_the_installed_python_tuf_is_the_tested_one() -> None:
    assert Version(tuf.__version__) in _tuf_requirement().specifier, (
        f"python-tuf {tuf.__version__} is installed, outside {_tuf_requirement()}: "
        "re-test mirror sync against it (tests/mirror) before widening the pin"
    )
    check_tuf_version()


def test_trusted_metadata_set_still_has_what_the_sync_calls() -> None:
    changed = {}
    for name, params in USED.items():
        found = list(inspect.signature(getattr(TrustedMetadataSet, name)).parameters)
        if found[: len(params)] != params:
            changed[name] = found
    assert not changed, (
        f"python-tuf {tuf.__version__} changed TrustedMetadataSet, which mirror sync "
        f"uses: {changed}; adapt tuf_pypi/client/mirror.py, then the pin"
    )
    signer = CryptoSigner.generate_ed25519()
    root = Metadata(Root())
    for role in root.signed.roles:
        root.signed.add_key(signer.public_key, role)
    root.sign(signer)
    trusted = TrustedMetadataSet(root.to_bytes(), EnvelopeType.METADATA)
    assert isinstance(getattr(trusted, "reference_time", None), datetime), (
        f"python-tuf {tuf.__version__}: TrustedMetadataSet.reference_time (the sync's "
        "injected clock) is gone; adapt tuf_pypi/client/mirror.py"
    )


def test_an_untested_major_is_refused_with_what_to_do() -> None:
    with pytest.raises(SetupError) as refused:
        check_tuf_version(f"{TESTED_TUF_MAJOR + 1}.0.0")
    message = str(refused.value)
    assert f"python-tuf {TESTED_TUF_MAJOR + 1}.0.0 is installed" in message
    assert f"tuf>={TESTED_TUF_MAJOR},<{TESTED_TUF_MAJOR + 1}" in message
