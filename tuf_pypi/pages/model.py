"""The page model (:class:`ProjectPage`, :class:`FileLink`, :class:`PageError`) and the
rules every form and every tier shares: size limit, decoding, repository version.

Nothing here does I/O: callers pass the bytes and say where they came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InputError

#: Pages larger than this are refused before they are decoded. PyPI's largest detail
#: pages are a few megabytes; the limit bounds the memory and time one page can cost.
MAX_PAGE_BYTES: int = 64 * 1024 * 1024

#: The file name of each page form, as bandersnatch lays a mirror out, to its form.
FORMS: dict[str, str] = {"index.html": "html", "index.v1_json": "json"}

# PEP 629: the major version changes only for changes old clients cannot handle.
_SUPPORTED_MAJOR = 1
_VERSION = re.compile(r"(\d+)\.(\d+)")

_FIRST_CHAR = re.compile(r"\s*(\S)")

_JSON_TYPES = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


class PageError(InputError):
    """A page that cannot be trusted to mean what it says.

    ``str()`` names the source and the rule broken, so the message can be shown to
    an index operator as is. ``source`` is whatever the caller passed (a file path
    or a URL); ``reason`` is the rule broken, without the source.
    """

    def __init__(self, source: str, reason: str) -> None:
        # Both go to ValueError so that the exception survives pickling.
        super().__init__(source, reason)
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class FileLink:
    """One distribution file as a page lists it.

    ``hashes`` maps lowercase hash names to lowercase hex digests. ``yanked`` is False,
    True, or the reason given (a reason implies yanked). ``core_metadata`` says whether
    the PEP 658 ``.metadata`` file exists: False, True (present, hash unknown), or
    the hashes of that file. The two mappings take no part in ``hash()``, which
    keeps links usable in sets.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = field(hash=False)
    size: int | None = None
    requires_python: str | None = None
    yanked: bool | str = False
    core_metadata: bool | Mapping[str, str] = field(default=False, hash=False)
    upload_time: str | None = None

    @property
    def sha256(self) -> str | None:
        """The sha256 digest that a downloaded file must match; None if not given."""
        return self.hashes.get("sha256")

    @property
    def metadata_sha256(self) -> str | None:
        """The sha256 digest of the PEP 658 ``.metadata`` file, if the page gives one."""
        if isinstance(self.core_metadata, Mapping):
            return self.core_metadata.get("sha256")
        return None


@dataclass(frozen=True)
class ProjectPage:
    """The files of one project, whichever form the page had.

    ``name`` is the JSON ``name``; HTML pages do not state the project name in a
    machine-readable way, so it is None for them rather than a guess from the title.
    ``api_version`` is the PEP 629 / PEP 691 version the page declares, if any.
    """

    form: str
    name: str | None
    api_version: str | None
    files: tuple[FileLink, ...]
    _by_filename: dict[str, FileLink] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        by_filename: dict[str, FileLink] = {}
        for link in self.files:
            by_filename.setdefault(link.filename, link)
        object.__setattr__(self, "_by_filename", by_filename)

    def unverifiable(self) -> tuple[FileLink, ...]:
        """Links without a sha256, which a client cannot verify and must refuse.

        An md5 alone does not count: md5 collisions are cheap to make.
        """
        return tuple(link for link in self.files if link.sha256 is None)

    def find(self, filename: str) -> FileLink | None:
        """The link for ``filename`` (exact match), or None if the page has none."""
        return self._by_filename.get(filename)


class _Reject(Exception):
    """A rule broken, raised where the page's source is not known.

    The public functions turn it into a :class:`PageError` that names the source.
    """


def _decode(data: bytes) -> str:
    if not isinstance(data, (bytes, bytearray)):
        # The size limit and UTF-8 rule apply to the bytes as served.
        raise TypeError(f"pages are parsed from bytes, not {type(data).__name__}")
    if len(data) > MAX_PAGE_BYTES:
        raise _Reject(f"page is {len(data)} bytes, over the limit of {MAX_PAGE_BYTES} bytes")
    data = bytes(data)
    nul = data.find(b"\0")
    if nul != -1:
        raise _Reject(f"NUL byte at byte offset {nul}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Reject(f"not valid UTF-8 at byte offset {exc.start}") from None
    if not text.strip():
        raise _Reject("empty page")
    return text


def _first_char(text: str) -> str:
    match = _FIRST_CHAR.match(text)
    return match.group(1) if match else ""


def _show(value: object, limit: int = 80) -> str:
    """repr() for messages: quoted, control characters escaped, long values cut."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _check_api_version(value: str | None) -> str:
    match = _VERSION.fullmatch(value or "")
    if value is None or match is None:
        raise _Reject(f"malformed repository version {_show(value)}: expected <major>.<minor>")
    if int(match.group(1)) != _SUPPORTED_MAJOR:
        raise _Reject(
            f"unsupported repository version {value}: "
            f"only {_SUPPORTED_MAJOR}.x pages can be read by this version of tuf-pypi"
        )
    return value


def _page(
    form: str, name: str | None, api_version: str | None, links: list[FileLink]
) -> ProjectPage:
    seen: dict[str, FileLink] = {}
    for link in links:
        first = seen.setdefault(link.filename, link)
        if first is not link and first.hashes != link.hashes:
            # Which of the two is the file? A client and pip could pick differently.
            raise _Reject(f"file {_show(link.filename)} is listed twice with different hashes")
    return ProjectPage(form=form, name=name, api_version=api_version, files=tuple(links))
