"""The repository contract of DESIGN.md §2-§4 as pure functions.

Both the repository side and the client side import this module, so the names of
files, target paths and bins are decided in exactly one place. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from .errors import InputError

__all__ = [
    "BINS_ROLE",
    "BIN_PREFIX",
    "DEFAULT_BINS",
    "LOCK_FILE",
    "METADATA_DIR",
    "OFFLINE_ROLES",
    "ONLINE_ROLES",
    "PAGE_FORMS",
    "PAGE_PATTERN",
    "SIMPLE_DIR",
    "TOP_LEVEL_ROLES",
    "LayoutError",
    "NormalizedName",
    "PageTarget",
    "bin_index",
    "bin_name",
    "bins_for_projects",
    "check_relative_path",
    "check_role_name",
    "consistent_name",
    "is_bin_role",
    "is_normalized",
    "metadata_filename",
    "normalize",
    "packages_path",
    "page_target",
    "parse_page_target",
    "project_name",
    "role_of_metadata_filename",
    "split_consistent_name",
    "suffix_len",
]

METADATA_DIR = "tuf"
SIMPLE_DIR = "simple"
#: The two detail page forms, by the file names bandersnatch writes.
PAGE_FORMS = ("index.html", "index.v1_json")
#: The one delegation from targets to bins covers every page target.
PAGE_PATTERN = "simple/*/*"
BINS_ROLE = "bins"
BIN_PREFIX = "bin"
TOP_LEVEL_ROLES = ("root", "targets", "snapshot", "timestamp")
#: Roles whose keys never touch the publishing machine.
OFFLINE_ROLES = ("root", "targets", "bins")
#: Roles signed by the online key on every publish.
ONLINE_ROLES = ("snapshot", "timestamp", "bin-n")
DEFAULT_BINS = 1024
#: The publisher lock, in the key or state directory (never under the served tree).
#: Publish, refresh, ceremonies, rebin, gc and mirror sync all take this one lock,
#: so two of them sharing a state directory never change a tree at once.
LOCK_FILE = "publish.lock"

_NORMALIZE = re.compile(r"[-_.]+")
# PEP 508 names: ASCII letters and digits, with '.', '-', '_' inside. re.ASCII and
# fullmatch: without them IGNORECASE lets U+017F and U+0131 match [a-z], and '$' accepts a
# trailing newline.
_VALID_NAME = re.compile(r"[a-z0-9]|[a-z0-9][a-z0-9._-]*[a-z0-9]", re.IGNORECASE | re.ASCII)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)
_BIN_SUFFIX = re.compile(r"[0-9a-f]{1,8}", re.ASCII)
_UNSAFE_PATH_CHAR = re.compile(r"[\x00-\x1f\x7f\\]")


class LayoutError(InputError):
    """A name or path that does not fit the repository layout."""


def normalize(name: str) -> str:
    """PEP 503 normalized form of a name, *without* validating it.

    For comparing names only; anything that names a file, a target or a queue
    entry goes through :func:`project_name`, which refuses invalid names.
    """
    return _NORMALIZE.sub("-", name).lower()


def project_name(name: str) -> NormalizedName:
    """The PEP 503 normalized name of a valid project name; LayoutError otherwise.

    The one validating normalizer of both sides (in the style of
    ``packaging.utils.canonicalize_name(validate=True)``, whose normal form it
    returns): ASCII letters, digits and ``.-_`` inside, nothing else (no
    whitespace, no trailing newline, no look-alike Unicode letters), so the result
    is safe as a directory name, a target path component and an HTTP header value.
    """
    if not isinstance(name, str) or not _VALID_NAME.fullmatch(name):
        raise LayoutError(
            f"{name!r} is not a valid project name (PEP 508: ASCII letters, "
            "digits and '.', '-', '_' inside)"
        )
    return canonicalize_name(name)


def is_normalized(name: str) -> bool:
    """True when ``name`` is a valid project name already in PEP 503 normal form.

    Directory names under ``simple/`` must be normalized: anything else (``..``,
    dots, upper case, non-ASCII) could make two directories claim one project.
    """
    return bool(_VALID_NAME.fullmatch(name)) and canonicalize_name(name) == name


@dataclass(frozen=True)
class PageTarget:
    """One signed page: a project and one of its page forms."""

    project: str
    form: str

    @property
    def path(self) -> str:
        return f"{SIMPLE_DIR}/{self.project}/{self.form}"


def page_target(project: str, form: str) -> str:
    """Target path of a project's page, validating both parts."""
    if not is_normalized(project):
        raise LayoutError(f"project name {project!r} is not a PEP 503 normalized name")
    if form not in PAGE_FORMS:
        raise LayoutError(f"page form {form!r} is not one of {', '.join(PAGE_FORMS)}")
    return f"{SIMPLE_DIR}/{project}/{form}"


def parse_page_target(path: str) -> PageTarget:
    """Inverse of :func:`page_target`; rejects anything that is not a page target."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != SIMPLE_DIR:
        raise LayoutError(f"target path {path!r} is not simple/<project>/<form>")
    page_target(parts[1], parts[2])
    return PageTarget(parts[1], parts[2])


def consistent_name(basename: str, sha256: str) -> str:
    """Consistent-snapshot file name of a target: ``<sha256>.<basename>``."""
    if not _SHA256_HEX.fullmatch(sha256):
        raise LayoutError(f"{sha256!r} is not a lowercase hex sha256 digest")
    return f"{sha256}.{basename}"


def split_consistent_name(filename: str) -> tuple[str, str] | None:
    """``(sha256, basename)`` for a consistent page copy name, else None."""
    digest, dot, rest = filename.partition(".")
    if dot and _SHA256_HEX.fullmatch(digest) and rest in PAGE_FORMS:
        return digest, rest
    return None


def metadata_filename(role: str, version: int | None = None) -> str:
    """``N.role.json``, or ``role.json`` for the unversioned timestamp / root copy."""
    return f"{role}.json" if version is None else f"{version}.{role}.json"


def role_of_metadata_filename(filename: str) -> str:
    """Role name of a snapshot ``meta`` key (``bin-0a.json`` -> ``bin-0a``)."""
    if not filename.endswith(".json"):
        raise LayoutError(f"{filename!r} is not a metadata file name")
    return filename[: -len(".json")]


def _bit_length(number_of_bins: int) -> int:
    if number_of_bins < 2 or number_of_bins > 2**32 or number_of_bins & (number_of_bins - 1):
        raise LayoutError(
            f"number of bins must be a power of two from 2 to 2^32, not {number_of_bins}"
        )
    return number_of_bins.bit_length() - 1


def suffix_len(number_of_bins: int) -> int:
    """Hex digits in a bin name, as python-tuf's ``SuccinctRoles`` computes it."""
    _bit_length(number_of_bins)
    return len(f"{number_of_bins - 1:x}")


def bin_index(target_path: str, number_of_bins: int) -> int:
    """Bin of a target path (TAP 15): the leading bits of sha256(path)."""
    bits = _bit_length(number_of_bins)
    prefix = int.from_bytes(hashlib.sha256(target_path.encode()).digest()[:4], "big")
    return prefix >> (32 - bits)


def bin_name(index: int, number_of_bins: int) -> str:
    """``bin-XXXX`` for a bin index, zero padded like python-tuf."""
    return f"{BIN_PREFIX}-{index:0{suffix_len(number_of_bins)}x}"


def is_bin_role(role: str) -> bool:
    """True for ``bin-<hex>`` role names (1 to 8 lowercase hex digits)."""
    prefix, dash, suffix = role.partition("-")
    return prefix == BIN_PREFIX and bool(dash) and bool(_BIN_SUFFIX.fullmatch(suffix))


def check_role_name(role: object, number_of_bins: int | None = None) -> str:
    """``role`` if it is a role name this layout allows; LayoutError otherwise.

    Allowed: the top-level roles, ``bins``, and ``bin-XXXX`` (with exactly the
    width ``number_of_bins`` gives, when known). Role names from metadata become
    file names (``N.<role>.json``), so anything else (``/``, ``..``, NUL, other
    names that are valid JSON) is refused before it can reach a file system.
    """
    if not isinstance(role, str):
        raise LayoutError(f"role name {role!r} is not a string")
    if role in TOP_LEVEL_ROLES or role == BINS_ROLE:
        return role
    if is_bin_role(role) and (
        number_of_bins is None or len(role) - len(BIN_PREFIX) - 1 == suffix_len(number_of_bins)
    ):
        return role
    width = "" if number_of_bins is None else f" with {suffix_len(number_of_bins)} hex digits"
    raise LayoutError(
        f"role name {role!r} is not one of {', '.join(TOP_LEVEL_ROLES)}, {BINS_ROLE} "
        f"or {BIN_PREFIX}-<hex>{width}"
    )


def check_relative_path(path: object) -> str:
    """``path`` if it is a plain relative POSIX path; LayoutError otherwise.

    Lexical only (no I/O): a string of ``/``-separated segments, none of them empty,
    ``.`` or ``..``, with no backslash and no control character (NUL, newline ...).
    Joined to a directory it cannot name anything above it; symbolic links are the
    caller's to resolve.
    """
    if not isinstance(path, str):
        raise LayoutError(f"path {path!r} is not a string")
    if _UNSAFE_PATH_CHAR.search(path) or any(s in ("", ".", "..") for s in path.split("/")):
        raise LayoutError(
            f"path {path!r} is not a plain relative path (empty, '.' or '..' segments, "
            "a leading '/', a backslash or a control character)"
        )
    return path


def bins_for_projects(expected_projects: int) -> int:
    """A power-of-two bin count for an index of this many projects.

    Aim for roughly 64 projects (128 page targets) per bin: a bin then stays a few
    tens of KB, so a client downloads little per project, while the snapshot
    (one line per bin) stays small. PEP 458 picked 16,384 bins for PyPI's size.
    """
    if expected_projects < 1:
        raise LayoutError("expected projects must be at least 1")
    wanted = max(1, math.ceil(expected_projects / 64))
    bins = 1 << (wanted - 1).bit_length()
    return max(16, min(bins, 1 << 16))


#: The ``/packages/`` segment DESIGN §6 maps onto every mirror's ``packages/``.
_PACKAGES = "/packages/"


def packages_path(page_url: str, link_url: str) -> str | None:
    """Where a file link lands under a mirror's ``packages/``, or None if it cannot.

    The link resolves against its page's URL; the part after the *last* ``/packages/``
    segment (as the client's ``file_urls`` cuts it) is the file's place under every
    mirror's ``packages/``, percent-decoded as a web server maps it to disk. Links
    outside a ``packages/`` tree stay where they are (clients fetch them from their
    own URL), so None. A path that could leave ``packages/`` raises LayoutError.
    Shared by mirror sync (what to copy) and ``verify --files`` (what to check).
    """
    path = urlsplit(urljoin(page_url, link_url)).path
    cut = path.rfind(_PACKAGES)
    if cut == -1:
        return None
    rest = unquote(path[cut + len(_PACKAGES) :])
    try:
        return check_relative_path(rest)
    except LayoutError:
        raise LayoutError(f"file link {link_url!r} has an unsafe path under packages/") from None
