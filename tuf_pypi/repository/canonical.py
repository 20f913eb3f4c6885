"""Fast canonical JSON for signing, byte-identical to securesystemslib's encoder.

TUF signatures cover the canonical JSON form of ``signed`` (securesystemslib's
``encode_canonical``: sorted keys, no whitespace, only ``"`` and ``\\`` escaped,
UTF-8, no floats). That encoder is pure Python and costs ~100 ms for a 16,384-bin
snapshot. Here:

- :func:`encode_canonical` checks the value is canonical-encodable (str keys, no
  floats), then lets the C ``json`` encoder do the work. ``json.dumps`` differs from
  canonical JSON only in how it escapes control characters, so any output with a
  backslash in it is re-encoded with securesystemslib instead (backslashes are rare
  in TUF metadata: paths, hex digests and dates never have them).
- :func:`bin_signed` and :func:`snapshot_signed` are templates for the two roles a
  publish re-signs, for the values the layout allows (page target paths, role file
  names); anything outside them falls back to :func:`encode_canonical`.
- :func:`metadata_file` assembles the file written to disk around the signed bytes,
  so nothing is serialized twice.

Tests compare all of these with ``securesystemslib.formats.encode_canonical``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from securesystemslib.exceptions import FormatError
from securesystemslib.formats import encode_canonical as _sslib_encode_canonical
from securesystemslib.signer import Signature, Signer
from tuf.api.metadata import SPECIFICATION_VERSION

from ..errors import RepoError

__all__ = [
    "SPEC_VERSION",
    "CanonicalError",
    "bin_dict",
    "bin_signed",
    "encode_canonical",
    "format_expires",
    "metadata_file",
    "sign_bytes",
    "snapshot_signed",
]

SPEC_VERSION = ".".join(SPECIFICATION_VERSION)
# Values that need no escaping at all, so templates may splice them in verbatim.
_ROLE_FILE = re.compile(r"[A-Za-z0-9._-]+\.json\Z")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*\Z')
# Page paths and sha256 digests, one per line (see _render_targets).
_PAGE_PATHS = re.compile(r"(?:simple/[a-z0-9][a-z0-9._-]*/index\.(?:html|v1_json)\n)*")
_SHA256S = re.compile(r"(?:[0-9a-f]{64}\n)*")


class CanonicalError(RepoError, ValueError):
    """A value canonical JSON cannot encode (a float, a non-string key, ...)."""


def _plain(value: object) -> bool:
    """True when ``value`` holds only exact str/int/bool/None/list/tuple/dict with str keys.

    Anything else (floats, subclasses, non-string keys) is left to securesystemslib,
    which encodes or refuses it in its own way.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:  # type: ignore[attr-defined]
                if type(key) is not str:
                    return False
            stack.extend(item.values())  # type: ignore[attr-defined]
        elif kind is list or kind is tuple:
            stack.extend(item)  # type: ignore[arg-type]
        else:
            return False
    return True


def _sslib(value: object) -> bytes:
    try:
        text = _sslib_encode_canonical(value)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError, FormatError) as e:
        raise CanonicalError(f"cannot encode in canonical JSON: {e}") from e
    assert isinstance(text, str)
    return text.encode("utf-8")


def encode_canonical(value: object) -> bytes:
    """Canonical JSON bytes of ``value``, as ``encode_canonical(value).encode()``."""
    if not _plain(value):
        return _sslib(value)
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
    )
    if "\\" in text:
        # json escapes control characters; canonical JSON leaves them raw.
        return _sslib(value)
    return text.encode("utf-8")


def format_expires(expires: datetime) -> str:
    """TUF's date format, as python-tuf writes it."""
    return expires.strftime("%Y-%m-%dT%H:%M:%SZ")


def bin_signed(
    version: int,
    expires: str,
    targets: Mapping[str, Mapping[str, object]],
    texts: dict[str, str] | None = None,
    changed: Iterable[str] = (),
) -> bytes:
    """Canonical ``signed`` of a bin: a targets role with page targets only.

    ``targets`` maps page paths to TUF target dicts (``{"hashes": ..., "length": ...}``);
    the template covers the ``{"sha256": hex}`` + length form publish writes, and
    anything else goes through :func:`encode_canonical`.

    ``texts`` (kept by the caller between calls for this one bin) holds the
    rendered text of each target at the previous call; only the paths in
    ``changed`` and any path ``texts`` lacks are rendered again. A batch re-signs
    thousands of bins to change one or two targets in each, so this turns ~90
    renders per bin into a sort and a join. The caller vouches that no target
    outside ``changed`` was altered since (the publisher changes targets in one
    place, and passes exactly what it changed).
    """
    if texts is None:
        texts = {}
    else:
        for path in changed:
            texts.pop(path, None)
        for path in texts.keys() - targets.keys():
            del texts[path]
    new = list(targets.keys() - texts.keys()) if texts else list(targets)
    if new:
        rendered = _render_targets(new, targets)
        if rendered is None:
            texts.clear()
            return _generic_bin(version, expires, targets)
        texts.update(zip(new, rendered, strict=True))
    parts = [texts[path] for path in sorted(texts)]
    if type(version) is not int or not _PLAIN.match(expires):
        return _generic_bin(version, expires, targets)
    return (
        f'{{"_type":"targets","expires":"{expires}","spec_version":"{SPEC_VERSION}",'
        f'"targets":{{{",".join(parts)}}},"version":{version}}}'
    ).encode()


def _render_targets(paths: list[str], targets: Mapping[str, object]) -> list[str] | None:
    """The rendered ``"path":{...}`` of each of ``paths``, or None if one needs escaping.

    Checks every target for the one shape the template covers (exactly
    ``{"hashes": {"sha256": <64 lowercase hex>}, "length": <int>}`` under a page
    path) in bulk: types by ``map`` into sets, paths and digests by one regular
    expression over all of them, so a full publish does not run a dozen Python
    checks for each of 1.5 million targets.
    """
    values = [targets[path] for path in paths]
    if {type(value) for value in values} != {dict} or set(map(len, values)) != {2}:
        return None
    hashes = [value.get("hashes") for value in values]
    lengths = [value.get("length") for value in values]
    if {type(h) for h in hashes} != {dict} or set(map(len, hashes)) != {1}:
        return None
    digests = [h.get("sha256") for h in hashes]
    if {type(d) for d in digests} != {str} or {type(n) for n in lengths} != {int}:
        return None
    # Joined by newlines, which no path or digest may hold (the counts say so).
    joined = "\n".join(paths) + "\n"
    if joined.count("\n") != len(paths) or not _PAGE_PATHS.fullmatch(joined):
        return None
    joined = "\n".join(digests) + "\n"
    if len(joined) != 65 * len(digests) or not _SHA256S.fullmatch(joined):
        return None
    return [
        f'"{path}":{{"hashes":{{"sha256":"{digest}"}},"length":{length}}}'
        for path, digest, length in zip(paths, digests, lengths, strict=True)
    ]


def bin_dict(version: int, expires: str, targets: dict[str, Any]) -> dict[str, Any]:
    """A bin's ``signed`` as the dict its JSON holds (what :func:`bin_signed` renders)."""
    return {
        "_type": "targets",
        "expires": expires,
        "spec_version": SPEC_VERSION,
        "targets": targets,
        "version": version,
    }


def _generic_bin(version: int, expires: str, targets: Mapping[str, object]) -> bytes:
    return encode_canonical(bin_dict(version, expires, dict(targets)))


class SnapshotTemplate:
    """Canonical snapshot ``signed`` from ``{role file name: version}``.

    One rendered entry (``"bin-0a.json":{"version":7}``) is kept per name in sorted
    order, so re-serializing a 16,384-bin snapshot after a publish re-renders only
    the entries the caller says changed, then joins. The hint is never trusted: the
    template's own copy of the rendered versions must then equal ``meta`` exactly
    (one C-level dict comparison), or everything is rendered again.
    """

    def __init__(self) -> None:
        self._meta: dict[str, int] = {}
        self._parts: list[str] = []
        self._index: dict[str, int] = {}

    @staticmethod
    def _part(name: str, version: int) -> str:
        return f'"{name}":{{"version":{version}}}'

    def _rebuild(self, meta: Mapping[str, int]) -> bool:
        if not all(_ROLE_FILE.match(n) for n in meta):
            return False
        order = sorted(meta)
        self._index = {n: i for i, n in enumerate(order)}
        self._parts = [self._part(n, meta[n]) for n in order]
        self._meta = dict(meta)
        return True

    def _update(self, meta: Mapping[str, int], changed: Iterable[str]) -> bool:
        for name in changed:
            index = self._index.get(name)
            if index is None or name not in meta:
                return False  # a name added or removed: rebuild
            self._parts[index] = self._part(name, meta[name])
            self._meta[name] = meta[name]
        return self._meta == meta

    def signed(
        self,
        version: int,
        expires: str,
        meta: Mapping[str, int],
        changed: Iterable[str] | None = None,
    ) -> bytes:
        if (
            type(version) is not int
            or not _PLAIN.match(expires)
            # exact ints only (a bool equals 1 but encodes as true): checked in C
            or not set(map(type, meta.values())) <= {int}
            or not (
                (changed is not None and self._parts and self._update(meta, changed))
                or self._rebuild(meta)
            )
        ):
            return encode_canonical(
                {
                    "_type": "snapshot",
                    "expires": expires,
                    "meta": {n: {"version": v} for n, v in meta.items()},
                    "spec_version": SPEC_VERSION,
                    "version": version,
                }
            )
        return (
            f'{{"_type":"snapshot","expires":"{expires}","meta":{{{",".join(self._parts)}}},'
            f'"spec_version":"{SPEC_VERSION}","version":{version}}}'
        ).encode()


_SNAPSHOT = SnapshotTemplate()


def snapshot_signed(
    version: int, expires: str, meta: Mapping[str, int], changed: Iterable[str] | None = None
) -> bytes:
    """Canonical ``signed`` of a snapshot listing only versions (DESIGN §4).

    ``changed``: the names whose versions changed since the previous call, a hint
    that makes this cost one join instead of a render of every entry.
    """
    return _SNAPSHOT.signed(version, expires, meta, changed)


def sign_bytes(signed: bytes, signers: Iterable[Signer]) -> list[Signature]:
    """Sign the canonical bytes directly (no Metadata object, no re-serializing)."""
    return [signer.sign(signed) for signer in signers]


def metadata_file(signed: bytes, signatures: Iterable[Signature]) -> bytes:
    """The metadata file: ``{"signatures": [...], "signed": <signed bytes>}``.

    The signed part is embedded as is: canonical JSON is valid JSON, so readers
    parse it and re-canonicalize it to the same bytes to check the signatures.
    """
    sigs = ",".join(
        json.dumps({"keyid": s.keyid, "sig": s.signature}, sort_keys=True, separators=(",", ":"))
        for s in signatures
    )
    return b'{"signatures":[' + sigs.encode() + b'],"signed":' + signed + b"}"
