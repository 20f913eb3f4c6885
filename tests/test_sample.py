"""Tests for tuf_pypi.sample: real wheels, consistent pages, and a real pip install."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from tuf_pypi.errors import InputError
from tuf_pypi.layout import LayoutError
from tuf_pypi.sample import (
    DEFAULT_SAMPLE,
    SampleDist,
    add_release,
    build_index,
    build_wheel,
)
from tuf_pypi.testing import serve_directory

PAGE_BASE = "http://index.test/"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


# ----------------------------------------------------------------------------- helpers


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}
        self._current: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self._current["text"] = ""
            self.anchors.append(self._current)
        elif tag == "meta":
            d = dict(attrs)
            self.meta[d["name"] or ""] = d.get("content")

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["text"] = (self._current["text"] or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None


def parse_html(path: Path) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text("utf-8"))
    return parser


def resolve(root: Path, page_url: str, href: str) -> Path:
    """The file under ``root`` that ``href`` points at when the page is served at page_url."""
    url = urlsplit(urljoin(page_url, href))
    assert url.geturl().startswith(PAGE_BASE), href
    return root / unquote(url.path).lstrip("/")


def wheel_record(zf: zipfile.ZipFile) -> list[list[str]]:
    record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
    return [line.split(",") for line in zf.read(record).decode().splitlines()]


def metadata_fields(data: bytes) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in data.decode().splitlines():
        if not line:
            break
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    return fields


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("index")
    build_index(root)
    return root


# ------------------------------------------------------------------------------ wheels


def test_wheel_is_valid_and_installable_layout(tmp_path: Path) -> None:
    dist = SampleDist("Demo_Core", "1.0", requires=("demo-lib>=1.0",), requires_python=">=3.8")
    path = build_wheel(dist, tmp_path)
    assert path == tmp_path / "demo_core-1.0-py3-none-any.whl"

    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names == [
            "demo_core/__init__.py",
            "demo_core-1.0.dist-info/METADATA",
            "demo_core-1.0.dist-info/WHEEL",
            "demo_core-1.0.dist-info/RECORD",
        ]
        rows = wheel_record(zf)
        assert sorted(r[0] for r in rows) == sorted(names)
        for name, digest, size in rows:
            if name.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = zf.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)

        meta = metadata_fields(zf.read("demo_core-1.0.dist-info/METADATA"))
        assert meta["Metadata-Version"] == ["2.1"]
        assert meta["Name"] == ["Demo_Core"]
        assert meta["Version"] == ["1.0"]
        assert meta["Requires-Dist"] == ["demo-lib>=1.0"]
        assert meta["Requires-Python"] == [">=3.8"]
        wheel = metadata_fields(zf.read("demo_core-1.0.dist-info/WHEEL"))
        assert wheel["Wheel-Version"] == ["1.0"]
        assert wheel["Root-Is-Purelib"] == ["true"]
        assert wheel["Tag"] == ["py3-none-any"]
        assert wheel["Generator"]

    # The module really works: import it straight from the (pure Python) wheel.
    code = "import demo_core; print(demo_core.__version__); print(demo_core.hello())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert out == ["1.0", "Hello from Demo_Core 1.0"]


def test_wheel_bytes_are_deterministic(tmp_path: Path) -> None:
    dist = DEFAULT_SAMPLE[0]
    first = build_wheel(dist, tmp_path / "a").read_bytes()
    time.sleep(1.1)  # a wall-clock timestamp leaking into the zip would now differ
    second = build_wheel(dist, tmp_path / "b").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a" / "demo_core-1.0-py3-none-any.whl") as zf:
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644


def test_invalid_dists_are_rejected() -> None:
    with pytest.raises(LayoutError, match="project name"):
        SampleDist("-bad", "1.0")
    with pytest.raises(InputError, match=r"version '1\.0-1'.*use '1\.0\.post1'"):
        SampleDist("good", "1.0-1")
    with pytest.raises(TypeError, match="tuple"):
        SampleDist("good", "1.0", requires="demo-lib")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- index


def test_build_index_layout_and_return_value(index: Path, tmp_path: Path) -> None:
    written = build_index(tmp_path)
    assert set(written) == {"demo-app", "demo-lib", "demo-core", "demo-extra"}
    assert [p.name for p in written["demo-core"]] == ["demo_core-1.0-py3-none-any.whl"]
    assert sum(len(v) for v in written.values()) == len(DEFAULT_SAMPLE)
    for paths in written.values():
        for path in paths:
            rel = path.relative_to(tmp_path).parts
            assert rel[0] == "packages"
            assert len(rel[1]) == 2 and len(rel[2]) == 2 and len(rel[3]) == 60
            h = hashlib.blake2b(path.read_bytes(), digest_size=32).hexdigest()
            assert "".join(rel[1:4]) == h
            assert path.with_name(path.name + ".metadata").is_file()
    # Nothing but the index lives under the root.
    assert {p.name for p in tmp_path.iterdir()} == {"packages", "simple"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_build_index_is_deterministic(index: Path, tmp_path: Path) -> None:
    build_index(tmp_path / "a")
    assert tree(tmp_path / "a") == tree(index)
    build_index(tmp_path / "a")  # rebuilding in place changes nothing either
    assert tree(tmp_path / "a") == tree(index)


@pytest.mark.parametrize("project", ["demo-app", "demo-lib", "demo-core", "demo-extra"])
def test_pages_are_consistent_with_files(index: Path, project: str) -> None:
    page_url = f"{PAGE_BASE}simple/{project}/"
    html_page = parse_html(index / "simple" / project / "index.html")
    data = json.loads((index / "simple" / project / "index.v1_json").read_bytes())

    assert html_page.meta["pypi:repository-version"] == "1.1"
    assert data["meta"]["api-version"] == "1.1"
    assert data["meta"]["_last-serial"] == len(data["files"])
    assert data["name"] == project
    assert [a["text"] for a in html_page.anchors] == [f["filename"] for f in data["files"]]

    for anchor, entry in zip(html_page.anchors, data["files"], strict=True):
        href = anchor["href"] or ""
        url, _, fragment = href.partition("#")
        assert url == entry["url"]
        assert url.startswith("../../packages/")
        assert fragment == f"sha256={entry['hashes']['sha256']}"

        wheel = resolve(index, page_url, url)
        assert wheel.name == entry["filename"]
        blob = wheel.read_bytes()
        assert sha256(blob) == entry["hashes"]["sha256"]
        assert len(blob) == entry["size"]

        metadata = wheel.with_name(wheel.name + ".metadata").read_bytes()
        with zipfile.ZipFile(wheel) as zf:
            inner = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            assert zf.read(inner) == metadata
        digest = sha256(metadata)
        assert anchor["data-dist-info-metadata"] == anchor["data-core-metadata"]
        assert anchor["data-core-metadata"] == f"sha256={digest}"
        assert entry["core-metadata"] == entry["dist-info-metadata"] == {"sha256": digest}

        fields = metadata_fields(metadata)
        assert fields["Version"][0] in data["versions"]
        assert anchor.get("data-requires-python") == entry["requires-python"]
        assert entry["requires-python"] == fields.get("Requires-Python", [None])[0]
        assert anchor.get("data-yanked") == (entry["yanked"] or None)
        assert entry["upload-time"].endswith("Z")


def test_page_details(index: Path) -> None:
    lib = json.loads((index / "simple" / "demo-lib" / "index.v1_json").read_bytes())
    assert [f["yanked"] for f in lib["files"]] == [False, "broken release, use 1.0"]
    assert lib["versions"] == ["1.0", "2.0"]
    raw = (index / "simple" / "demo-extra" / "index.html").read_text()
    assert 'data-requires-python="&gt;=3.8"' in raw
    assert (
        'data-yanked="broken release, use 1.0"'
        in (index / "simple" / "demo-lib" / "index.html").read_text()
    )
    # Compact JSON, as bandersnatch writes it.
    compact = (index / "simple" / "demo-lib" / "index.v1_json").read_bytes()
    assert compact == json.dumps(json.loads(compact), separators=(",", ":")).encode()
    times = [
        f["upload-time"]
        for p in ("demo-core", "demo-lib", "demo-app", "demo-extra")
        for f in json.loads((index / "simple" / p / "index.v1_json").read_bytes())["files"]
    ]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_root_listing(index: Path) -> None:
    page = parse_html(index / "simple" / "index.html")
    links = {a["text"]: a["href"] for a in page.anchors}
    assert links == {
        "demo-app": "demo-app/",
        "Demo_Core": "demo-core/",
        "demo-extra": "demo-extra/",
        "demo-lib": "demo-lib/",
    }
    for href in links.values():
        page_dir = resolve(index, f"{PAGE_BASE}simple/", href or "")
        assert (page_dir / "index.html").is_file()
    data = json.loads((index / "simple" / "index.v1_json").read_bytes())
    assert data["meta"] == {"api-version": "1.1", "_last-serial": 4}
    assert [p["name"] for p in data["projects"]] == list(links)


def test_base_url_makes_absolute_urls(tmp_path: Path) -> None:
    build_index(tmp_path, base_url="https://files.example.org/mirror/")
    data = json.loads((tmp_path / "simple" / "demo-app" / "index.v1_json").read_bytes())
    for entry in data["files"]:
        prefix = "https://files.example.org/mirror/packages/"
        assert entry["url"].startswith(prefix)
        assert (tmp_path / "packages" / entry["url"][len(prefix) :]).is_file()
    anchors = parse_html(tmp_path / "simple" / "demo-app" / "index.html").anchors
    assert all(
        (a["href"] or "").startswith("https://files.example.org/mirror/packages/") for a in anchors
    )


# ------------------------------------------------------------------------- add_release


def test_add_release_to_existing_project(index: Path, tmp_path: Path) -> None:
    build_index(tmp_path)
    root_before = (tmp_path / "simple" / "index.html").read_bytes()
    old = json.loads((tmp_path / "simple" / "demo-lib" / "index.v1_json").read_bytes())

    pages = add_release(tmp_path, SampleDist("demo-lib", "3.0", requires=("Demo_Core",)))
    assert pages == [
        tmp_path / "simple" / "demo-lib" / "index.html",
        tmp_path / "simple" / "demo-lib" / "index.v1_json",
    ]
    new = json.loads((tmp_path / "simple" / "demo-lib" / "index.v1_json").read_bytes())
    assert new["versions"] == ["1.0", "2.0", "3.0"]
    assert new["files"][:2] == old["files"]  # yank state and upload times survive
    assert new["files"][2]["yanked"] is False
    assert new["files"][2]["upload-time"] > old["files"][1]["upload-time"]
    assert new["meta"]["_last-serial"] == 3
    assert (tmp_path / "simple" / "index.html").read_bytes() == root_before
    anchors = parse_html(tmp_path / "simple" / "demo-lib" / "index.html").anchors
    assert [a["text"] for a in anchors] == [f["filename"] for f in new["files"]]
    assert "data-yanked" in anchors[1] and "data-yanked" not in anchors[2]

    # Other projects are untouched; adding the same release again changes nothing.
    snapshot = tree(tmp_path)
    assert add_release(tmp_path, SampleDist("demo-lib", "3.0", requires=("Demo_Core",)))
    assert tree(tmp_path) == snapshot
    for project in ("demo-app", "demo-core", "demo-extra"):
        for name in ("index.html", "index.v1_json"):
            page = Path("simple", project, name)
            assert (tmp_path / page).read_bytes() == (index / page).read_bytes()


def test_add_release_of_new_project(tmp_path: Path) -> None:
    build_index(tmp_path)
    pages = add_release(tmp_path, SampleDist("Demo.Plugin", "0.1", yanked=""))
    assert pages == [
        tmp_path / "simple" / "demo-plugin" / "index.html",
        tmp_path / "simple" / "demo-plugin" / "index.v1_json",
        tmp_path / "simple" / "index.html",
        tmp_path / "simple" / "index.v1_json",
    ]
    data = json.loads(pages[1].read_bytes())
    assert data["name"] == "demo-plugin"
    assert data["files"][0]["filename"] == "demo_plugin-0.1-py3-none-any.whl"
    assert data["files"][0]["yanked"] is True  # yanked without a reason
    assert parse_html(pages[0]).anchors[0]["data-yanked"] == ""
    root_links = {a["text"]: a["href"] for a in parse_html(pages[2]).anchors}
    assert root_links["Demo.Plugin"] == "demo-plugin/"
    assert json.loads(pages[3].read_bytes())["meta"]["_last-serial"] == 5


# --------------------------------------------------------------- real installs with pip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """``python -m http.server`` serving root; yields its base URL. Retries port races."""
    for _ in range(5):
        port = _free_port()
        argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        proc = subprocess.Popen(
            [*argv, "--directory", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if _wait_for_port(port, proc):
                yield f"http://127.0.0.1:{port}"
                return
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    pytest.fail("could not start python -m http.server")


def pip_install(index_url: str, target: Path, *requirements: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    pip = [sys.executable, "-m", "pip", "--isolated", "install"]
    options = ["--disable-pip-version-check", "--no-cache-dir", "--no-input"]
    result = subprocess.run(
        [*pip, *options, "--index-url", index_url, "--target", str(target), *requirements],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def installed(target: Path) -> dict[str, str]:
    code = (
        "import json, demo_app, demo_lib, demo_core; print(json.dumps({m.__name__: "
        "[m.__version__, m.hello()] for m in (demo_app, demo_lib, demo_core)}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {name: version for name, (version, _) in json.loads(out).items()}


def test_pip_installs_from_the_index_over_http(index: Path, tmp_path: Path) -> None:
    with http_server(index) as base:
        pip_install(f"{base}/simple/", tmp_path, "demo-app")
    assert (tmp_path / "demo_app" / "__init__.py").is_file()
    assert (tmp_path / "demo_lib" / "__init__.py").is_file()
    assert (tmp_path / "demo_core" / "__init__.py").is_file()
    assert not (tmp_path / "demo_extra").exists()
    # Newest demo-app; demo-lib 2.0 is yanked, so pip must settle on 1.0.
    assert installed(tmp_path) == {"demo_app": "1.1", "demo_lib": "1.0", "demo_core": "1.0"}


class _JsonIndexHandler(SimpleHTTPRequestHandler):
    """Static server that answers PEP 691 content negotiation with index.v1_json."""

    json_hits: list[str]

    def do_GET(self) -> None:
        local = Path(self.translate_path(self.path))
        page = local / "index.v1_json"
        if local.is_dir() and JSON_TYPE in self.headers.get("Accept", "") and page.is_file():
            body = page.read_bytes()
            self.json_hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_pip_installs_using_the_json_pages(index: Path, tmp_path: Path) -> None:
    hits: list[str] = []
    handler = type("Handler", (_JsonIndexHandler,), {"json_hits": hits})
    server, url = serve_directory(index, handler)
    try:
        pip_install(f"{url}/simple/", tmp_path, "demo-app")
    finally:
        server.shutdown()
        server.server_close()
    assert {"/simple/demo-app/", "/simple/demo-lib/", "/simple/demo-core/"} <= set(hits)
    assert installed(tmp_path) == {"demo_app": "1.1", "demo_lib": "1.0", "demo_core": "1.0"}
