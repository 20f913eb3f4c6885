"""Attacks on the mirror make unmodified installers fail, saying verification refused
the data; with an honest mirror listed after the malicious one, the install succeeds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tuf_pypi.testing.mirror_server import Serve
from tuf_pypi.testing.signed_index import Index

from .attacks import Setup, rolled_back_metadata, tampered_page, tampered_wheel
from .helpers import RESOLVED, StartProxy, installed, output, pip, request, run, uv_binary

ATTACKS = [
    pytest.param(tampered_wheel, "[tampered]", id="tampered-wheel"),
    pytest.param(tampered_page, "[tampered]", id="tampered-page"),
    pytest.param(rolled_back_metadata, "[rolled back]", id="rolled-back-metadata"),
]
#: The proxy's answer for a refused file and for a refused page, as installers show it.
REFUSED = "424 Client Error: TUF verification failed"


@pytest.mark.parametrize(("attack", "kind"), ATTACKS)
def test_pip_install_refused(
    attack: Callable[..., Setup],
    kind: str,
    serve: Serve,
    base_index: Index,
    newer_index: Index,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    setup = attack(serve, base_index, newer_index)
    setup.seed(tmp_path / "cache")
    proxy = start_proxy(setup.bad, cache=tmp_path / "cache")
    target, log = tmp_path / "site", tmp_path / "pip.log"
    result = pip(
        "install", "--target", str(target), "--index-url", proxy.url, "--log", str(log), "demo-app"
    )  # fmt: skip
    assert result.returncode != 0, output(result)
    assert installed(target) == set()
    if attack is tampered_wheel:
        # A refused file: pip prints the proxy's reason phrase as its last error line.
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"ERROR: {REFUSED}: downloading demo_core"), output(result)
        assert kind in last
    else:
        # A refused page: pip reports "no matching distribution", and logs the proxy's
        # reason only at debug level (pip -vv, or its --log file).
        assert "No matching distribution found for demo-app" in result.stderr, output(result)
        debug = log.read_text()
        assert f"simple/demo-app/: {REFUSED}" in debug and kind in debug
    assert "TUF verification failed" in proxy.stderr()  # the admin sees it too


@pytest.mark.parametrize(("attack", "kind"), ATTACKS)
def test_pip_install_succeeds_with_an_honest_mirror_second(
    attack: Callable[..., Setup],
    kind: str,
    serve: Serve,
    base_index: Index,
    newer_index: Index,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    setup = attack(serve, base_index, newer_index)
    setup.seed(tmp_path / "cache")
    proxy = start_proxy(setup.bad, setup.honest, cache=tmp_path / "cache")
    target = tmp_path / "site"
    result = pip("install", "--target", str(target), "--index-url", proxy.url, "demo-app")
    assert result.returncode == 0, output(result)
    assert installed(target) == RESOLVED
    # The attack is visible although failover hid it from pip: logged and counted.
    kind_name = kind.strip("[]")
    warnings = [line for line in proxy.stderr().splitlines() if " WARNING " in line]
    assert any(
        f"mirror {setup.bad.url}" in line and f"(attack class: {kind_name})" in line
        for line in warnings
    ), proxy.stderr()
    metrics = request(proxy.url.removesuffix("simple/") + "metrics").body.decode()
    counted = (
        f'tuf_pypi_proxy_verification_failures_total{{kind="{kind_name}",mirror="{setup.bad.url}"}}'
    )
    assert f"{counted} 1.0" in metrics, metrics


@pytest.mark.parametrize(
    "attack", [tampered_wheel, tampered_page], ids=["tampered-wheel", "tampered-page"]
)
def test_uv_install_refused(
    attack: Callable[..., Setup],
    serve: Serve,
    base_index: Index,
    newer_index: Index,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    """uv shows the reason for refused pages and files alike."""
    proxy = start_proxy(attack(serve, base_index, newer_index).bad)
    result = run(
        [
            uv_binary(), "pip", "install", "--no-config", "--no-cache", "--target",
            str(tmp_path / "site"), "--index-url", proxy.url, "demo-app",
        ]
    )  # fmt: skip
    assert result.returncode != 0, output(result)
    assert "424 TUF verification failed" in result.stderr, output(result)
    assert "[tampered]" in result.stderr
    assert not (tmp_path / "site" / "demo_core").exists()
