"""The online key in a PKCS#11 token (SoftHSM2): import, rotate to it, publish, client follows."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuf_pypi.cli import main
from tuf_pypi.keys import KeyDirectory, load_public_key
from tuf_pypi.repository import verify_repository

from .rotations import assert_client_gets_every_page, rotate_online

pkcs11 = pytest.importorskip("pkcs11")
SOFTHSM_UTIL = shutil.which("softhsm2-util")
LIBRARY = next(
    (
        p
        for p in (
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        )
        if Path(p).exists()
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    SOFTHSM_UTIL is None or LIBRARY is None,
    reason="softhsm2 not installed (scripts/install-system-deps)",
)
PIN, SO_PIN, LABEL = "1234", "5678", "tuf-pypi-online"


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SoftHSM token with an EC P-256 key pair at CKA_ID 2 (HSMSigner's default)."""
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    config = tmp_path / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(config))
    monkeypatch.setenv("PYKCS11LIB", LIBRARY)
    monkeypatch.setenv("TUF_PYPI_HSM_PIN", PIN)
    pins = ["--pin", PIN, "--so-pin", SO_PIN]
    subprocess.run(
        [SOFTHSM_UTIL, "--init-token", "--free", "--label", LABEL, *pins],
        check=True,
        capture_output=True,
        env=os.environ,
    )
    from pkcs11.util.ec import encode_named_curve_parameters

    lib = pkcs11.lib(LIBRARY)
    with lib.get_token(token_label=LABEL).open(rw=True, user_pin=PIN) as session:
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        params.generate_keypair(store=True, id=b"\x02", label="online")
    return LABEL


def test_online_key_rotated_into_hsm_publish_refresh_and_client(
    make_repo, serve, tmp_path, token
) -> None:
    signed = make_repo(bins=4)
    url = serve(signed.repo)
    cache = tmp_path / "client"
    assert_client_gets_every_page(signed, url, cache)

    public_file = tmp_path / "hsm-online.pub"
    result = CliRunner().invoke(
        main,
        ["key", "import-hsm", "--keys-dir", str(signed.keys_dir), "--token-label", token,
         "--public-out", str(public_file)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    hsm_key = load_public_key(public_file)
    keys = KeyDirectory(signed.keys_dir)
    assert keys.external_signers()[hsm_key.keyid].startswith("hsm:2?label=")
    assert keys.location_of(hsm_key.keyid) == "hsm"

    rotate_online(signed, hsm_key)
    (signed.keys_dir / "online.key").unlink()  # from now on only the HSM can sign
    signed.page("demo-core").write_text(signed.page("demo-core").read_text() + "\n")
    assert signed.publisher().publish().wrote_metadata
    assert signed.publisher().refresh(timedelta(days=30)).resigned
    assert verify_repository(signed.storage, signed.clock()).ok
    assert_client_gets_every_page(signed, url, cache)
