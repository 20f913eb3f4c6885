"""Unmodified pip and uv install through the proxy (a real ``tuf-pypi proxy`` process)
from an untrusted static mirror of the signed sample index.

Besides this interpreter's pip, the pips users actually have run here too: 23.0.1
(Debian 12's, which crashes on a JSON ``dist-info-metadata`` object: PEP 714), 23.2
(the first to read ``core-metadata``) and the newest release. Each is installed from
PyPI into a throwaway virtual environment once per session.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tuf_pypi.testing.mirror_server import MirrorServer
from tuf_pypi.testing.proxy_process import ProxyProcess
from tuf_pypi.testing.signed_index import Index

from .helpers import RESOLVED, fresh_venv, installed, output, pip, run, uv_binary

#: pip releases installed from PyPI for the tests ("" is the newest).
PIP_RELEASES = ("23.0.1", "23.2", "")


@pytest.fixture(scope="session")
def pip_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The python of a throwaway venv holding pip ``release`` from PyPI, made once per session.

    uv installs it (fast, and it ignores this machine's pip configuration); if PyPI
    cannot be reached the test is skipped, saying so.
    """
    made: dict[str, Path] = {}

    def make(release: str) -> Path:
        if release not in made:
            python = fresh_venv(tmp_path_factory.mktemp(f"pip-{release or 'newest'}") / "venv")
            wanted = f"pip=={release}" if release else "pip"
            result = subprocess.run(
                [uv_binary(), "pip", "install", "--no-config", "--python", str(python), wanted],
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                pytest.skip(f"cannot install {wanted} from PyPI: {output(result)}")
            made[release] = python
        return made[release]

    return make


@pytest.fixture(scope="module")
def proxy(
    mirror: MirrorServer, root_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyProcess]:
    """One proxy process for the module: installers share it, as on a real machine."""
    work = tmp_path_factory.mktemp("proxy")
    with ProxyProcess([mirror.url], root_file, work / "cache", log=work / "proxy.log") as process:
        yield process


def test_pip_install_with_dependencies(
    proxy: ProxyProcess, mirror: MirrorServer, base_index: Index, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    result = pip("install", "--target", str(target), "--index-url", proxy.url, "demo-app")
    assert result.returncode == 0, output(result)
    assert installed(target) == RESOLVED
    hello = run([sys.executable, "-c", "import demo_app; print(demo_app.hello())"], cwd=target)
    assert hello.stdout.strip() == "Hello from demo-app 1.1", output(hello)
    # The bytes came from the untrusted mirror, through the proxy (pip knows only the proxy).
    wheel, _ = base_index.wheel("demo-core")
    assert mirror.count(wheel) == 1


def test_pip_download(proxy: ProxyProcess, base_index: Index, tmp_path: Path) -> None:
    dest = tmp_path / "wheels"
    result = pip("download", "-d", str(dest), "--index-url", proxy.url, "demo-app==1.0")
    assert result.returncode == 0, output(result)
    names = sorted(path.name for path in dest.iterdir())
    assert names == [
        "demo_app-1.0-py3-none-any.whl",
        "demo_core-1.0-py3-none-any.whl",
        "demo_lib-1.0-py3-none-any.whl",
    ]
    _, core = base_index.wheel("demo-core")
    assert (dest / "demo_core-1.0-py3-none-any.whl").read_bytes() == core


def test_pip_require_hashes(proxy: ProxyProcess, base_index: Index, tmp_path: Path) -> None:
    lines = []
    for project, version in [("demo-app", "1.1"), ("demo-lib", "1.0"), ("demo-core", "1.0")]:
        entry = next(f for f in base_index.files(project) if f"-{version}-" in f["filename"])
        lines.append(f"{project}=={version} --hash=sha256:{entry['hashes']['sha256']}")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    target = tmp_path / "site"
    result = pip(
        "install", "--require-hashes", "-r", str(requirements),
        "--target", str(target), "--index-url", proxy.url,
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    assert installed(target) == RESOLVED


def test_uv_pip_install_into_a_fresh_venv(proxy: ProxyProcess, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    result = run(
        [
            uv_binary(), "pip", "install", "--no-config", "--no-cache",
            "--python", str(python), "--index-url", proxy.url, "demo-app",
        ]
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    hello = subprocess.run(
        [str(python), "-c", "import demo_core, demo_lib, demo_app; print(demo_lib.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hello.stdout.strip() == "1.0", hello.stderr


@pytest.mark.parametrize("release", PIP_RELEASES, ids=lambda r: f"pip-{r or 'newest'}")
def test_released_pip_installs_through_the_proxy(
    proxy: ProxyProcess, pip_of: Callable[[str], Path], release: str, tmp_path: Path
) -> None:
    python = pip_of(release)
    version = run([str(python), "-m", "pip", "--version"])
    assert release in version.stdout, output(version)
    target = tmp_path / "site"
    result = run(
        [
            str(python), "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
            "--target", str(target), "--index-url", proxy.url, "demo-app",
        ]
    )  # fmt: skip
    assert result.returncode == 0, output(result)
    assert installed(target) == RESOLVED
