"""The rules for each field of a file link, shared by every tier that reads one.

Hash names and digest lengths, file names, URLs and their hash fragments apply to
both forms. ``_JSON_MEMBERS`` is the one table of PEP 691 file entry members:
for each, the strict rule (``read``, used by :func:`tuf_pypi.pages.json._json_link`
and by the fast checks on loaded entries) and the JSON text of values that rule
accepts as is (``plain``, which the fast checks' entry regular expression is built
from). A fast path thus never restates a rule: it either applies the strict one or
matches a narrower text that the strict one accepts unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import _json_type, _Reject, _show

_HASH_NAME = re.compile(r"[a-z0-9_]{1,32}")
_HEX = re.compile(r"[0-9a-f]+")
# Hex digest lengths of the hashlib algorithms an index may name. A digest of any
# other length for these is a typo or a forgery, not a hash.
_DIGEST_HEX_LEN = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha3_224": 56,
    "sha3_256": 64,
    "sha3_384": 96,
    "sha3_512": 128,
    "blake2s": 64,
    "blake2b": 128,
}

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# URLs whose last path segment is simply what follows the last '/' (see html._url_name).
_SIMPLE_URL = re.compile(
    r"(?:https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|(?:\.\.?/)*\.\.?|)/(?!/)[A-Za-z0-9._~!$'()*+,;=:@/-]*"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Schemes that run code or embed content instead of naming a file to download.
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript"})

# A lowercase hex digit. The NUL changes nothing (these paths only see text that
# ``_decode`` accepted, which has none) but makes ``re`` compile the class to a
# bitmap, tested about twice as fast as two ranges; digests are much of a page.
_HEX_DIGIT = r"[0-9a-f\x00]"
_SHA256_DIGITS = rf"{_HEX_DIGIT}{{64}}"


def _check_hash(name: str, value: str) -> tuple[str, str]:
    """Validate one hash; return (lowercase name, lowercase hex digest)."""
    if name == "sha256" and _SHA256_HEX.fullmatch(value):
        return name, value  # the usual case, already in the form returned
    alg = name.lower()
    if not _HASH_NAME.fullmatch(alg):
        raise _Reject(f"malformed hash name {_show(name)}")
    digest = value.lower()
    expected = _DIGEST_HEX_LEN.get(alg)
    if expected is not None:
        valid = len(digest) == expected and bool(_HEX.fullmatch(digest))
        wanted = f"{expected} hex digits"
    else:
        valid = 32 <= len(digest) <= 128 and len(digest) % 2 == 0 and bool(_HEX.fullmatch(digest))
        wanted = "an even number (32 to 128) of hex digits"
    if not valid:
        raise _Reject(f"{alg} digest {_show(value)} is not {wanted}")
    return alg, digest


def _check_filename(name: str) -> str:
    # The file name becomes a path component on mirrors and in caches.
    if not name:
        raise _Reject("empty filename")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise _Reject(f"filename {_show(name)} is not a plain file name")
    if _CONTROL.search(name):
        raise _Reject(f"filename {_show(name)} contains control characters")
    if name != name.strip():
        # HTML link text is read stripped, and some file systems drop trailing spaces:
        # such a name would not name the same file everywhere.
        raise _Reject(f"filename {_show(name)} starts or ends with white space")
    return name


def _check_url(url: str) -> None:
    if not url.strip():
        raise _Reject("empty URL")
    # Clients disagree on control characters in URLs (browsers drop some, others keep
    # them), so a URL containing one could name different files to different clients.
    if _CONTROL.search(url):
        raise _Reject(f"URL {_show(url)} contains control characters")
    match = _SCHEME.match(url.lstrip(" "))
    if match and match.group(1).lower() in _FORBIDDEN_SCHEMES:
        raise _Reject(f"URL {_show(url)} has the forbidden scheme {match.group(1)}:")


def _split_fragment(url: str) -> tuple[str, dict[str, str]]:
    """Remove the fragment from ``url``; return the URL and the hash it gives."""
    bare, _, fragment = url.partition("#")
    if not fragment:
        return bare, {}
    name, eq, value = fragment.partition("=")
    if not eq:
        raise _Reject(
            f"malformed hash fragment {_show('#' + fragment)}: expected #<hashname>=<hexdigest>"
        )
    try:
        alg, digest = _check_hash(name, value)
    except _Reject as exc:
        raise _Reject(f"malformed hash fragment {_show('#' + fragment)}: {exc}") from None
    return bare, {alg: digest}


def _json_hashes(value: object, label: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Reject(f"{label} must be an object of hashes, not {_json_type(value)}")
    hashes: dict[str, str] = {}
    for name, digest in value.items():
        if not isinstance(digest, str):
            raise _Reject(f"{label}: {name!r} must be a string, not {_json_type(digest)}")
        try:
            alg, digest = _check_hash(name, digest)
        except _Reject as exc:
            raise _Reject(f"{label}: {exc}") from None
        if alg in hashes:
            raise _Reject(f"{label} gives {alg} twice")
        hashes[alg] = digest
    return hashes


def _read_url(url: str) -> tuple[str, dict[str, str]]:
    _check_url(url)
    return _split_fragment(url)


def _read_hashes(value: object) -> dict[str, str]:
    return _json_hashes(value, "'hashes'")


def _read_size(size: object) -> int:
    if type(size) is not int or size < 0:
        raise _Reject(f"'size' must be a non-negative integer, not {_show(size)}")
    return size


def _read_requires_python(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Reject(f"'requires-python' must be a string or null, not {_json_type(value)}")
    return value or None


def _read_yanked(yanked: object) -> bool | str:
    if not isinstance(yanked, (bool, str)):
        raise _Reject(f"'yanked' must be a boolean or a string, not {_json_type(yanked)}")
    # PEP 691 wants a reason to be non-empty; an empty one still says "yanked".
    return yanked if yanked != "" else True


def _read_upload_time(value: object) -> str:
    if not isinstance(value, str):
        raise _Reject(f"'upload-time' must be a string, not {_json_type(value)}")
    return value


def _metadata_reader(key: str) -> Callable[[object], bool | dict[str, str]]:
    def read(value: object) -> bool | dict[str, str]:
        if isinstance(value, bool):
            return value
        if isinstance(value, dict):
            return _json_hashes(value, f"'{key}'") or True
        raise _Reject(f"'{key}' must be a boolean or an object of hashes, not {_json_type(value)}")

    return read


@dataclass(frozen=True)
class _Member:
    """One member of a PEP 691 file entry.

    ``read`` is the strict rule: it returns the value as ``FileLink``
    holds it, or raises naming the rule broken; None for members tuf-pypi does not
    read. ``plain`` is a regular expression for the JSON text of values that
    ``read`` accepts as they are, with no escapes (so a value's text is its value);
    the fast checks' entry pattern is built from these.
    """

    read: Callable[[Any], Any] | None
    plain: str


#: A JSON file name the fast paths take as is: what ``_check_filename`` accepts and
#: cannot be spelled another way (no escapes, no white space, no separators).
_PLAIN_FILENAME = re.compile(r"[A-Za-z0-9._+~!-]+")
# A JSON string without escapes, so its text is its value.
_JSON_STRING = r'"[^"\\\x00-\x1f]*"'
_JSON_METADATA = rf'(?:true|false|\{{(?:"sha256": ?"{_SHA256_DIGITS}")?\}})'

#: Every member of a file entry, in PEP 691's order (the order make_index and
#: sample write). In ``plain`` the groups are the file name and the sha256 of
#: ``hashes``; plain URLs have no fragment. The last two members are not read by
#: tuf-pypi (Warehouse writes them).
_JSON_MEMBERS: dict[str, _Member] = {
    "filename": _Member(_check_filename, rf'"(?!\.\.?")({_PLAIN_FILENAME.pattern})"'),
    "url": _Member(_read_url, rf'"{_SIMPLE_URL.pattern}"'),
    "hashes": _Member(_read_hashes, rf'\{{(?:"sha256": ?"({_SHA256_DIGITS})")?\}}'),
    "requires-python": _Member(_read_requires_python, rf"(?:null|{_JSON_STRING})"),
    # An int: far below the limit on digits.
    "size": _Member(_read_size, r"(?:0|[1-9][0-9]{0,17})"),
    "upload-time": _Member(_read_upload_time, _JSON_STRING),
    "yanked": _Member(_read_yanked, rf"(?:true|false|{_JSON_STRING})"),
    "core-metadata": _Member(_metadata_reader("core-metadata"), _JSON_METADATA),
    "dist-info-metadata": _Member(_metadata_reader("dist-info-metadata"), _JSON_METADATA),
    "data-dist-info-metadata": _Member(None, _JSON_METADATA),
    "provenance": _Member(None, rf"(?:null|{_JSON_STRING})"),
}
#: The members every file entry has.
_JSON_FILE_KEYS = frozenset({"filename", "url", "hashes"})
#: PEP 714 renamed the core metadata member; readers prefer the new name.
_METADATA_MEMBERS = ("core-metadata", "dist-info-metadata")
