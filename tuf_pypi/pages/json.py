"""The strict PEP 691 JSON parser.

Each file entry member is read by its rule in :mod:`.fields` (``_JSON_MEMBERS``),
the table the fast checks share.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from .fields import _JSON_MEMBERS, _METADATA_MEMBERS
from .model import (
    _JSON_TYPES,
    FileLink,
    PageError,
    ProjectPage,
    _check_api_version,
    _decode,
    _first_char,
    _json_type,
    _page,
    _Reject,
    _show,
)


def parse_json(data: bytes, source: str) -> ProjectPage:
    """Parse a PEP 691 JSON detail page.

    ``source`` (a path or URL) only serves to name the page in errors. Keys given
    twice in one object are refused (JSON parsers disagree on which value wins), as
    are ``NaN``, ``Infinity`` and numbers too large for a float, escapes of NUL or of
    lone surrogates (not text), and nesting deeper than 64 levels (so that the verdict
    does not depend on the caller's stack). Unknown keys are ignored, as PEP 691 asks.
    A hash in a URL fragment is merged into ``hashes``, as pip does, and must agree
    with it.
    """
    try:
        text = _decode(data)
        if _first_char(text) == "<":
            raise _Reject("wrong content for the form: this is HTML, not a JSON page")
        doc = _load_json(text)
        if not isinstance(doc, dict):
            raise _Reject(f"the page must be a JSON object, not {_json_type(doc)}")
        meta = _require(doc, "meta", dict)
        api_version = _check_api_version(_require(meta, "api-version", str, "meta"))
        name = _require(doc, "name", str)
        if not name:
            raise _Reject("'name' is empty")
        files = _require(doc, "files", list)
        links = []
        for index, entry in enumerate(files):
            try:
                links.append(_json_link(entry))
            except _Reject as exc:
                label = f"files[{index}]"
                if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                    label += f" ({_show(entry['filename'])})"
                raise _Reject(f"{label}: {exc}") from None
        return _page("json", name, api_version, links)
    except _Reject as exc:
        raise PageError(source, str(exc)) from None


def _load_json(text: str) -> Any:
    try:
        doc = _strict_decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise _Reject(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise _Reject(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise _Reject(_TOO_DEEP) from None
    _check_depth(doc)
    if _SUSPECT_ESCAPE.search(text):
        _check_strings(doc)
    return doc


# PEP 691 pages nest four deep. Without a limit of its own, the decoder stops at Python's
# recursion limit, less the depth of the caller's stack: a page could then be accepted by
# one caller (the upload queue, say) and refused by another (a publish deep in the CLI,
# a client in a proxy thread), with the same bytes.
_MAX_JSON_DEPTH = 64
_TOO_DEEP = f"not valid JSON: nested too deeply (more than {_MAX_JSON_DEPTH} levels)"


def _check_depth(doc: Any) -> None:
    """Refuse a document nested deeper than ``_MAX_JSON_DEPTH``, one level at a time."""
    level = [doc] if type(doc) in _CONTAINERS else []
    for _ in range(_MAX_JSON_DEPTH):
        below: list[Any] = []
        for container in level:
            values = container.values() if type(container) is dict else container
            below += [value for value in values if type(value) in _CONTAINERS]
        if not below:
            return
        level = below
    raise _Reject(_TOO_DEEP)


_CONTAINERS = (dict, list)


# Escapes of NUL or of a surrogate: the only way a string can hold either (raw NUL is
# refused, raw surrogates are not UTF-8). A match may be an escaped backslash and a
# 'u', which _check_strings then finds harmless.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _check_strings(doc: Any) -> None:
    """Refuse NUL and lone surrogates, which ``\\u`` escapes can put in any string.

    Neither is text: an HTML page cannot hold them (the same file listed in the
    other form could not say the same), and a lone surrogate cannot be written out
    as UTF-8 again, by the proxy or to a file name.
    """
    stack = [doc]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            stack += value
            stack += value.values()
        elif type(value) is list:
            stack += value
        elif type(value) is str and not (value.isascii() and "\0" not in value):
            if "\0" in value:
                raise _Reject(f"not valid JSON text: the string {_show(value)} holds a NUL")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Reject(
                    f"not valid JSON text: the string {_show(value)} holds a lone surrogate"
                ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                # Parsers disagree on which value wins, so the page is ambiguous.
                raise _Reject(f"duplicate key {_show(key)} in a JSON object")
            seen.add(key)
    return result


def _reject_constant(name: str) -> None:
    raise _Reject(f"not valid JSON: {name} is not a JSON value")


def _finite_float(text: str) -> float:
    # Python reads 1e400 as inf, which would be written out again as Infinity: not JSON.
    value = float(text)
    if value in (_INF, -_INF):
        raise _Reject(f"not valid JSON: the number {_show(text)} is too large")
    return value


_INF = float("inf")


def _require(obj: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    value = obj.get(key, _MISSING)
    if type(value) is kind:  # exact: a bool is not a number here
        return value
    label = f"'{where}.{key}'" if where else f"'{key}'"
    if value is _MISSING:
        raise _Reject(f"missing {label}")
    raise _Reject(f"{label} must be {_JSON_TYPES[kind]}, not {_json_type(value)}")


_MISSING = object()


@functools.cache
def _strict_decoder() -> json.JSONDecoder:
    """A decoder with the hooks of ``_load_json``, built once.

    ``json.loads`` with hooks builds a decoder per call, which costs as much as
    loading the rest of a page (without its file entries) does.
    """
    return json.JSONDecoder(
        object_pairs_hook=_unique_keys, parse_constant=_reject_constant, parse_float=_finite_float
    )


def _read(entry: dict[str, Any], key: str, default: Any) -> Any:
    """Member ``key`` of a file entry as its rule in ``_JSON_MEMBERS`` reads it.

    ``default`` if the entry has no such member. For the required members the
    caller passes the value ``_require`` checked the type of, and it is read.
    """
    if key not in entry:
        return default
    read = _JSON_MEMBERS[key].read
    assert read is not None  # every member tuf-pypi reads has a rule
    return read(entry[key])


def _json_link(entry: object) -> FileLink:
    if not isinstance(entry, dict):
        raise _Reject(f"must be an object, not {_json_type(entry)}")
    filename = _read(entry, "filename", _require(entry, "filename", str))
    url, url_hashes = _read(entry, "url", _require(entry, "url", str))
    hashes = _read(entry, "hashes", _require(entry, "hashes", dict))
    for alg, digest in url_hashes.items():
        # pip merges a URL fragment hash into the hashes, so both must agree.
        if hashes.setdefault(alg, digest) != digest:
            raise _Reject(f"the URL fragment and 'hashes' give different {alg} digests")
    size = _read(entry, "size", None)
    requires_python = _read(entry, "requires-python", None)
    yanked = _read(entry, "yanked", False)
    # Only the first of the two names given counts (PEP 714: the new one).
    key = next((key for key in _METADATA_MEMBERS if key in entry), None)
    core_metadata = _read(entry, key, False) if key is not None else False
    upload_time = _read(entry, "upload-time", None)
    return FileLink(
        filename=filename,
        url=url,
        hashes=hashes,
        size=size,
        requires_python=requires_python,
        yanked=yanked,
        core_metadata=core_metadata,
        upload_time=upload_time,
    )
