"""Attacks on the mirror make unmodified installers fail, saying verification refused
the data; with an honest mirror listed after the malicious one, the install succeeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tuf_pypi.client import Client
from tuf_pypi.testing.mirror_server import MirrorServer, replace
from tuf_pypi.testing.signed_index import Index

from .conftest import StartProxy
from .helpers import installed, output, pip, request, run, uv_binary
from .test_installers import RESOLVED

Serve = Callable[[Index], MirrorServer]


@dataclasses.dataclass(frozen=True)
class Setup:
    """A malicious mirror, an honest one, and what the proxy's cache already trusts."""

    bad: MirrorServer
    honest: MirrorServer
    seed: Callable[[Path], None] = lambda cache: None


def tampered_wheel(serve: Serve, base: Index, newer: Index) -> Setup:
    rel, data = base.wheel("demo-core")
    bad = serve(base)
    bad.hooks[rel] = replace(bytes(len(data)))  # same size, other bytes
    return Setup(bad, serve(base))


def tampered_page(serve: Serve, base: Index, newer: Index) -> Setup:
    bad = serve(base)
    page = base.read(base.page_path("demo-app"))
    bad.hooks[base.page_path("demo-app")] = replace(page.replace(b"demo_app-1.1", b"demo_app-6.6"))
    return Setup(bad, serve(base))


def rolled_back_metadata(serve: Serve, base: Index, newer: Index) -> Setup:
    """The proxy already trusts a newer timestamp; the bad mirror serves the older one."""
    honest = serve(newer)

    def seed(cache: Path) -> None:
        with Client([honest.url], newer.root_bytes, cache) as client:
            client.refresh()

    return Setup(serve(base), honest, seed)


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
