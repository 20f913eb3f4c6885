"""Build a small but real sample package index, offline, from nothing but the stdlib.

The demo (``scripts/demo``) and the end-to-end tests need an index that unmodified pip and uv
can really install from, without touching PyPI. This module writes one: installable
``py3-none-any`` wheels, PEP 658 ``.metadata`` files beside them, and PEP 503 HTML / PEP 691
JSON pages in the layout bandersnatch writes (``simple/<project>/index.html`` and
``simple/<project>/index.v1_json``), so the repository side of tuf-pypi sees exactly what it
would see on a real mirror.

Everything is deterministic (fixed zip timestamps and permissions, stored entries, fixed
upload times): building the same sample twice gives byte-identical files, hence identical
sha256 digests, which keeps demo output and TUF metadata stable.

Only the index itself is written under ``root`` (DESIGN.md section 2: whatever lives there may
be published). What a wheel cannot tell us about itself -- whether it is yanked, and when it
was "uploaded" -- is kept where a real index keeps it: in the project's PEP 691 JSON page.
``add_release`` reads it back from there, so no state file is needed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from . import layout
from .errors import InputError

__all__ = [
    "DEFAULT_SAMPLE",
    "SampleDist",
    "add_release",
    "build_index",
    "build_wheel",
]

# Earliest date a zip file can hold; fixed so rebuilt wheels are byte-identical.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Regular file, rw-r--r--, in the high 16 bits of external_attr (as unix zip tools write it).
_ZIP_FILE_ATTR = (0o100644 & 0xFFFF) << 16
# First upload time of a sample index; later uploads follow at fixed steps from it.
_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
_UPLOAD_STEP = timedelta(hours=1)

_API_VERSION = "1.1"
_JSON_PAGE = "index.v1_json"
_HTML_PAGE = "index.html"


@dataclass(frozen=True)
class SampleDist:
    """One release of one sample project: what its wheel says and how the index lists it.

    ``name`` is kept exactly as published (e.g. ``"Demo_Core"``), so that the sample exercises
    PEP 503 normalization: the page lives under ``simple/demo-core/`` and the wheel is named
    ``demo_core-1.0-py3-none-any.whl``. ``requires`` are ``Requires-Dist`` lines.
    ``yanked`` is the PEP 592 yank reason (``""`` means yanked without a reason), or ``None``.
    ``data_size`` adds a package data file of that many (deterministic) bytes, for a
    wheel large enough to take the paths that large files take.
    """

    name: str
    version: str
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    yanked: str | None = None
    data_size: int = 0

    def __post_init__(self) -> None:
        layout.project_name(self.name)  # LayoutError naming it
        # Normalized, so the wheel file name, its METADATA and the page all say the
        # same version, and the file name stays unambiguous (no '-').
        try:
            normalized = str(Version(self.version))
        except InvalidVersion:
            normalized = None
        if normalized != self.version:
            hint = f": use {normalized!r}" if normalized else ""
            raise InputError(
                f"invalid version {self.version!r} for {self.name!r}: sample versions are"
                f" normalized PEP 440 versions{hint}"
            )
        if isinstance(self.requires, str):
            raise TypeError(f"requires of {self.name!r} must be a tuple of strings, not a str")


DEFAULT_SAMPLE: tuple[SampleDist, ...] = (
    SampleDist("Demo_Core", "1.0"),
    SampleDist("demo-lib", "1.0", requires=("Demo_Core>=1.0",)),
    SampleDist(
        "demo-lib",
        "2.0",
        requires=("Demo_Core>=1.0",),
        yanked="broken release, use 1.0",
    ),
    SampleDist("demo-app", "1.0", requires=("demo-lib>=1.0", "Demo_Core")),
    SampleDist("demo-app", "1.1", requires=("demo-lib>=1.0", "Demo_Core")),
    SampleDist("demo-extra", "0.1", requires_python=">=3.8"),
)
"""Four projects, six releases: enough for dependency resolution, a yanked release that
installers must skip, an odd-cased/underscored project name, and a Requires-Python marker."""


# --------------------------------------------------------------------------- names and hashes


def _wheel_name(name: str) -> str:
    """Distribution name as it appears in wheel and ``.dist-info`` file names."""
    return layout.project_name(name).replace("-", "_")


def _wheel_filename(dist: SampleDist) -> str:
    return f"{_wheel_name(dist.name)}-{dist.version}-py3-none-any.whl"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record_digest(data: bytes) -> str:
    """``sha256=<urlsafe base64, no padding>`` as a wheel RECORD wants it."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _package_relpath(filename: str, data: bytes) -> str:
    """Where files.pythonhosted.org would put the file: blake2b-256 split as 2/2/60 hex."""
    h = hashlib.blake2b(data, digest_size=32).hexdigest()
    return f"packages/{h[:2]}/{h[2:4]}/{h[4:]}/{filename}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` in one step, so a server never serves a half-written page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------- wheels


def _metadata_bytes(dist: SampleDist) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {dist.name}",
        f"Version: {dist.version}",
        f"Summary: tuf-pypi sample distribution {dist.name} {dist.version}",
    ]
    if dist.requires_python is not None:
        lines.append(f"Requires-Python: {dist.requires_python}")
    lines.extend(f"Requires-Dist: {req}" for req in dist.requires)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _module_bytes(dist: SampleDist) -> bytes:
    greeting = f"Hello from {dist.name} {dist.version}"
    return (
        f'"""Sample package {dist.name} {dist.version}, built by tuf_pypi.sample."""\n'
        "\n"
        f"__version__ = {dist.version!r}\n"
        "\n"
        "\n"
        "def hello() -> str:\n"
        '    """Return a greeting naming this distribution and version."""\n'
        f"    return {greeting!r}\n"
    ).encode()


_WHEEL_FILE = (
    b"Wheel-Version: 1.0\nGenerator: tuf_pypi.sample\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
)


def _wheel_bytes(dist: SampleDist) -> tuple[bytes, bytes]:
    """The wheel's bytes and its METADATA bytes (the PEP 658 ``.metadata`` file content)."""
    dist_info = f"{_wheel_name(dist.name)}-{dist.version}.dist-info"
    metadata = _metadata_bytes(dist)
    # Module first, then .dist-info with RECORD last, as the wheel spec recommends.
    entries: list[tuple[str, bytes]] = [
        (f"{_wheel_name(dist.name)}/__init__.py", _module_bytes(dist)),
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", _WHEEL_FILE),
    ]
    if dist.data_size:
        block = hashlib.sha256(dist.name.encode()).digest() * 8  # 256 bytes, not all alike
        data = (block * (dist.data_size // len(block) + 1))[: dist.data_size]
        entries.insert(1, (f"{_wheel_name(dist.name)}/data.bin", data))
    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{p},{_record_digest(d)},{len(d)}\n" for p, d in entries)
    entries.append((record_path, (record + f"{record_path},,\n").encode("utf-8")))

    buf = io.BytesIO()
    # ZIP_STORED rather than deflate: deflate output depends on the zlib build (zlib vs
    # zlib-ng), and the sample must hash the same on every machine.
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.create_system = 3  # unix, whatever the host, so external_attr means the same
            info.external_attr = _ZIP_FILE_ATTR
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    return buf.getvalue(), metadata


def build_wheel(dist: SampleDist, out_dir: Path) -> Path:
    """Write an installable ``py3-none-any`` wheel of ``dist`` into ``out_dir``; return its path.

    The wheel holds a module ``<import_name>/__init__.py`` (``__version__`` and ``hello()``)
    so an install can be checked by importing it, and a ``.dist-info`` with METADATA, WHEEL
    and a RECORD whose digests installers verify. Its bytes are deterministic, so a rebuild
    has the same sha256 as the file the index pages already list.
    """
    data, _ = _wheel_bytes(dist)
    path = Path(out_dir) / _wheel_filename(dist)
    _write_atomic(path, data)
    return path


def _store(root: Path, dist: SampleDist) -> Path:
    """Write the wheel and its PEP 658 metadata file at their hashed place under packages/."""
    data, metadata = _wheel_bytes(dist)
    path = root / _package_relpath(_wheel_filename(dist), data)
    _write_atomic(path, data)
    _write_atomic(path.with_name(path.name + ".metadata"), metadata)
    return path


# ------------------------------------------------------------------------------ file records


@dataclass(frozen=True)
class _FileRecord:
    """Everything a simple page says about one distribution file."""

    filename: str
    url: str  # without fragment
    sha256: str
    size: int
    version: str
    requires_python: str | None
    yanked: str | None
    upload_time: str
    metadata_sha256: str


@dataclass(frozen=True)
class _Listing:
    """What the index records about a file that the file itself cannot say."""

    yanked: str | None
    upload_time: str


def _format_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _parse_metadata(data: bytes) -> dict[str, list[str]]:
    """Header fields of a core metadata file (RFC 822 style, no continuation lines here)."""
    fields: dict[str, list[str]] = {}
    for line in data.decode("utf-8").splitlines():
        if not line:
            break
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        names = [
            n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(names) != 1:
            raise InputError(f"{path}: expected exactly one .dist-info/METADATA, found {names}")
        return zf.read(names[0])


def _scan_wheels(root: Path) -> dict[str, list[Path]]:
    """Wheels present under ``root/packages``, by normalized project name (from the file name)."""
    found: dict[str, list[Path]] = {}
    packages = root / "packages"
    if packages.is_dir():
        for path in sorted(packages.rglob("*.whl")):
            try:
                project = parse_wheel_filename(path.name)[0]
            except InvalidWheelFilename as e:
                raise InputError(f"{path}: {e}") from None
            found.setdefault(project, []).append(path)
    return found


def _version_key(version: str) -> tuple[int, Version | str]:
    """PEP 440 order (what pip picks), with unparseable versions first, as text."""
    try:
        return 1, Version(version)
    except InvalidVersion:
        return 0, version


def _file_url(root: Path, path: Path, base_url: str | None) -> str:
    rel = path.relative_to(root).as_posix()
    if base_url is not None:
        return f"{base_url.rstrip('/')}/{rel}"
    return f"../../{rel}"  # from simple/<project>/ back to the index root


def _records(
    root: Path,
    wheels: Iterable[Path],
    listings: Mapping[str, _Listing],
    base_url: str | None,
) -> list[_FileRecord]:
    """Records for a project's wheels, read from the files themselves plus ``listings``."""
    records = []
    for path in wheels:
        data = path.read_bytes()
        metadata = _wheel_metadata(path)
        fields = _parse_metadata(metadata)
        listing = listings.get(path.name, _Listing(None, _format_time(_EPOCH)))
        records.append(
            _FileRecord(
                filename=path.name,
                url=_file_url(root, path, base_url),
                sha256=_sha256(data),
                size=len(data),
                version=fields["Version"][0],
                requires_python=fields.get("Requires-Python", [None])[0],
                yanked=listing.yanked,
                upload_time=listing.upload_time,
                metadata_sha256=_sha256(metadata),
            )
        )
    records.sort(key=lambda r: (_version_key(r.version), r.filename))
    return records


def _read_listings(root: Path, project: str) -> dict[str, _Listing]:
    """Yank state and upload times from the project's existing JSON page (empty if none)."""
    page = root / "simple" / project / _JSON_PAGE
    if not page.is_file():
        return {}
    listings = {}
    for f in json.loads(page.read_bytes())["files"]:
        yanked = f.get("yanked", False)
        reason = None if yanked is False else ("" if yanked is True else str(yanked))
        listings[f["filename"]] = _Listing(reason, f.get("upload-time", _format_time(_EPOCH)))
    return listings


# ---------------------------------------------------------------------------------- rendering


def _render_html(project: str, records: Sequence[_FileRecord]) -> bytes:
    """PEP 503 detail page, with PEP 592 yanks, PEP 658/714 metadata hashes and PEP 629."""
    esc = html.escape
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{_API_VERSION}">',
        f"    <title>Links for {esc(project)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {esc(project)}</h1>",
    ]
    for r in records:
        attrs = [f'href="{esc(r.url)}#sha256={r.sha256}"']
        if r.requires_python is not None:
            attrs.append(f'data-requires-python="{esc(r.requires_python)}"')
        if r.yanked is not None:
            attrs.append(f'data-yanked="{esc(r.yanked)}"')
        attrs.append(f'data-dist-info-metadata="sha256={r.metadata_sha256}"')
        attrs.append(f'data-core-metadata="sha256={r.metadata_sha256}"')
        lines.append(f"    <a {' '.join(attrs)}>{esc(r.filename)}</a><br />")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def _render_json(project: str, records: Sequence[_FileRecord]) -> bytes:
    """PEP 691 detail page (API 1.1: PEP 700 size, upload-time and versions), compact."""
    files = [
        {
            "filename": r.filename,
            "url": r.url,
            "hashes": {"sha256": r.sha256},
            "requires-python": r.requires_python,
            "size": r.size,
            "upload-time": r.upload_time,
            "yanked": False if r.yanked is None else (r.yanked or True),
            "core-metadata": {"sha256": r.metadata_sha256},
            "dist-info-metadata": {"sha256": r.metadata_sha256},
        }
        for r in records
    ]
    versions = list(dict.fromkeys(r.version for r in records))
    page = {
        # PyPI's serial counts every event; here, one per file listed (grows with uploads).
        "meta": {"api-version": _API_VERSION, "_last-serial": len(records)},
        "name": project,
        "files": files,
        "versions": versions,
    }
    return json.dumps(page, separators=(",", ":")).encode("utf-8")


def _render_root_html(projects: Mapping[str, str]) -> bytes:
    """PEP 503 root listing; ``projects`` maps normalized name to the name as published."""
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{_API_VERSION}">',
        "    <title>Simple index</title>",
        "  </head>",
        "  <body>",
    ]
    lines += [f'    <a href="{p}/">{html.escape(n)}</a><br />' for p, n in projects.items()]
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def _render_root_json(projects: Mapping[str, str]) -> bytes:
    page = {
        # The root changes only when a project appears, so its serial counts projects.
        "meta": {"api-version": _API_VERSION, "_last-serial": len(projects)},
        "projects": [{"name": n} for n in projects.values()],
    }
    return json.dumps(page, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------------------------ writing


def _write_project_pages(
    root: Path,
    project: str,
    wheels: Sequence[Path],
    listings: Mapping[str, _Listing],
    base_url: str | None,
) -> list[Path]:
    records = _records(root, wheels, listings, base_url)
    directory = root / "simple" / project
    html_page, json_page = directory / _HTML_PAGE, directory / _JSON_PAGE
    _write_atomic(html_page, _render_html(project, records))
    _write_atomic(json_page, _render_json(project, records))
    return [html_page, json_page]


def _write_root_pages(root: Path, wheels: Mapping[str, Sequence[Path]]) -> list[Path]:
    # Name as published, read from the project's first wheel (file names are normalized).
    projects = {
        p: _parse_metadata(_wheel_metadata(wheels[p][0]))["Name"][0] for p in sorted(wheels)
    }
    html_page, json_page = root / "simple" / _HTML_PAGE, root / "simple" / _JSON_PAGE
    _write_atomic(html_page, _render_root_html(projects))
    _write_atomic(json_page, _render_root_json(projects))
    return [html_page, json_page]


def _publish(
    root: Path,
    uploads: Sequence[tuple[SampleDist, str]],
    base_url: str | None,
    *,
    rewrite_root: bool,
) -> tuple[dict[str, list[Path]], list[Path]]:
    """Store ``(dist, upload_time)`` uploads and rewrite the pages of the projects they touch.

    Shared by ``build_index`` and ``add_release``. A page lists every wheel of its project
    found under ``packages/``; yank state and upload times come from ``uploads`` first, then
    from the existing JSON page for files uploaded earlier.
    """
    root = Path(root)
    written: dict[str, list[Path]] = {}
    listings: dict[str, dict[str, _Listing]] = {}
    for dist, upload_time in uploads:
        project = layout.project_name(dist.name)
        if project not in listings:
            listings[project] = _read_listings(root, project)
        written.setdefault(project, []).append(_store(root, dist))
        listings[project][_wheel_filename(dist)] = _Listing(dist.yanked, upload_time)

    wheels = _scan_wheels(root)
    pages: list[Path] = []
    for project in written:
        pages += _write_project_pages(root, project, wheels[project], listings[project], base_url)
    if rewrite_root:
        pages += _write_root_pages(root, wheels)
    return written, pages


def build_index(
    root: Path,
    dists: Sequence[SampleDist] = DEFAULT_SAMPLE,
    *,
    base_url: str | None = None,
) -> dict[str, list[Path]]:
    """Write a bandersnatch-style sample index of ``dists`` under ``root``.

    Layout (the one DESIGN.md section 2 describes, so tuf-pypi can sign it as is)::

        root/packages/ab/cd/<60 hex>/<wheel>            blake2b-256 of the file, as on PyPI
        root/packages/ab/cd/<60 hex>/<wheel>.metadata   PEP 658: the wheel's METADATA bytes
        root/simple/<project>/index.html                PEP 503 (+ 592, 629, 658, 714)
        root/simple/<project>/index.v1_json             PEP 691 API 1.1 (+ PEP 700)
        root/simple/index.html, root/simple/index.v1_json   root listings

    File URLs are relative to the page (``../../packages/...``), so the tree works wherever it
    is served; with ``base_url`` they are absolute (``<base_url>/packages/...``), like PyPI's
    links to files.pythonhosted.org. Release *i* of ``dists`` is given the upload time
    2024-01-01T00:00Z plus *i* hours, so rebuilding gives byte-identical files.

    Pages list every wheel of the project present under ``packages/`` (including ones left by
    an earlier build). Returns ``{normalized project: [wheel paths written]}``.
    """
    uploads = [(d, _format_time(_EPOCH + i * _UPLOAD_STEP)) for i, d in enumerate(dists)]
    written, _ = _publish(Path(root), uploads, base_url, rewrite_root=True)
    return written


def add_release(root: Path, dist: SampleDist, *, base_url: str | None = None) -> list[Path]:
    """Simulate an upload: add ``dist`` to an existing sample index and rewrite its pages.

    Writes the new wheel and its ``.metadata`` file, then rewrites the project's two pages
    (and the two root listings if the project is new). Files already listed keep the yank
    state and upload time their JSON page gives; the new file is uploaded one hour after the
    project's latest upload (or at the sample epoch for a new project). Pass the same
    ``base_url`` as to ``build_index`` to keep the pages' URL style. Re-adding a release that
    is already listed keeps its upload time, so the call is idempotent.

    Returns the paths of the pages rewritten.
    """
    root = Path(root)
    project = layout.project_name(dist.name)
    is_new = not (root / "simple" / project / _JSON_PAGE).is_file()
    listings = _read_listings(root, project)
    existing = listings.get(_wheel_filename(dist))
    if existing is not None:
        upload_time = existing.upload_time
    elif listings:
        latest = max(_parse_time(entry.upload_time) for entry in listings.values())
        upload_time = _format_time(latest + _UPLOAD_STEP)
    else:
        upload_time = _format_time(_EPOCH)
    _, pages = _publish(root, [(dist, upload_time)], base_url, rewrite_root=is_new)
    return pages
