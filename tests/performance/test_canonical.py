"""The fast canonical serializer is byte-identical to securesystemslib's encoder."""

from __future__ import annotations

import random

import pytest
from securesystemslib.formats import encode_canonical as sslib_encode
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Snapshot, TargetFile, Targets

from tuf_pypi.repository import canonical

_ALPHABET = [
    *["a", "Z", "0", " ", "-", "/", ".", '"', "\\", "\x00", "\x01", "\x1f", "\x7f", "\n", "\t"],
    *["\u00e9", "\u2028", "\u2029", "\ufeff", "\U0001f600", "\u4e2d", "/", "u", "'", "<"],
]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 8)))


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 5)
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice([0, -1, 1, 2**31, -(2**63), 2**64 + 1, 10**40, -(10**30)])
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        return rng.randrange(-1000, 1000)
    if kind in (5, 6):
        return {_text(rng): _value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}
    if kind == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(0, 3)))


def test_random_values_match_securesystemslib() -> None:
    rng = random.Random(458)
    for _ in range(3000):
        value = _value(rng)
        assert canonical.encode_canonical(value) == sslib_encode(value).encode(), value


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        "",
        'quote " and backslash \\',
        "control \x00\x01\x1f\x7f\n\r\t\b\f",
        "non-ascii é 中 😀 \u2028",
        {"b": 1, "a": 2, "B": 3, "_type": 4, "é": 5, "a\x00": 6},
        {"nested": {"list": [1, [2, [3, {"x": None}]]], "t": (True, False)}},
        2**200,
        -(2**200),
        {"\\": "\\\\", '"': '"'},
    ],
)
def test_edge_cases_match(value: object) -> None:
    assert canonical.encode_canonical(value) == sslib_encode(value).encode()


@pytest.mark.parametrize("value", [1.5, {"a": 1.0}, [float("nan")], {1: "int key"}, object()])
def test_values_canonical_json_cannot_encode_are_refused(value: object) -> None:
    with pytest.raises(canonical.CanonicalError):
        canonical.encode_canonical(value)


def _bin_dict(targets: dict) -> dict:
    return {
        "_type": "targets",
        "expires": "2030-01-02T03:04:05Z",
        "spec_version": canonical.SPEC_VERSION,
        "targets": targets,
        "version": 7,
    }


def test_bin_template_matches_for_page_targets_and_falls_back_otherwise() -> None:
    rng = random.Random(1)
    targets = {
        f"simple/proj-{i}/index.{'html' if i % 2 else 'v1_json'}": {
            "hashes": {"sha256": f"{rng.getrandbits(256):064x}"},
            "length": rng.randrange(10**9),
        }
        for i in range(200)
    }
    for case in (
        targets,
        {},
        {**targets, 'simple/odd"name/index.html': {"hashes": {"sha256": "0" * 64}, "length": 1}},
        {"simple/x/index.html": {"hashes": {"sha256": "A" * 64}, "length": 1}},
        {"simple/x/index.html": {"hashes": {"sha512": "ab"}, "length": 1, "custom": {"é": 1}}},
        {"simple/x/index.html": {"hashes": {"sha256": "0" * 64}, "length": True}},
        # Values that would pass the bulk checks if split at a newline.
        {"simple/a/index.html\nsimple/b/index.html": {"hashes": {"sha256": "0" * 64}, "length": 1}},
        {"simple/a/index.html": {"hashes": {"sha256": "0" * 64 + "\n" + "1" * 64}, "length": 1}},
        {**targets, "simple/y/index.html": ["hashes", "length"]},
    ):
        signed = canonical.bin_signed(7, "2030-01-02T03:04:05Z", case)
        assert signed == sslib_encode(_bin_dict(case)).encode()


def test_bin_template_rerenders_exactly_the_changed_targets() -> None:
    """One bin's kept texts across many commits: always the canonical bytes."""
    rng = random.Random(9)
    texts: dict[str, str] = {}
    targets = {
        f"simple/p{i}/index.html": {"hashes": {"sha256": f"{i:064x}"}, "length": i}
        for i in range(60)
    }
    odd_values = [
        {"hashes": {"sha256": "F" * 64}, "length": 3},  # not lowercase hex
        {"hashes": {"sha256": "0" * 64}, "length": True},  # == 1 but a bool
        {"hashes": {"sha256": "0" * 64, "md5": "x"}, "length": 1},
        {"hashes": {"sha256": "0" * 64}, "length": 1, "custom": {}},
        {"hashes": {"sha256": 7}, "length": 1},
    ]
    for step in range(400):
        changed = rng.sample(sorted(targets), rng.randrange(0, 3))
        for path in changed:
            kind = rng.randrange(5)
            if kind == 0:
                targets[path] = {"hashes": {"sha256": f"{rng.getrandbits(256):064x}"}, "length": 5}
            elif kind == 1:
                targets[path] = {"hashes": {"sha256": f"{step:064x}"}, "length": rng.randrange(99)}
            elif kind == 2:
                targets[path] = dict(rng.choice(odd_values))
            elif kind == 3:
                del targets[path]
            else:
                new = f"simple/n{step}-{len(changed)}/index.v1_json"
                targets[new] = {"hashes": {"sha256": f"{step:064x}"}, "length": step}
                changed.append(new)
        signed = canonical.bin_signed(step, "2030-01-02T03:04:05Z", targets, texts, changed)
        assert signed == sslib_encode(_bin_dict(targets) | {"version": step}).encode(), step
        for path in changed:  # odd values were for one commit only
            if path in targets and targets[path] in odd_values:
                targets[path] = {"hashes": {"sha256": "1" * 64}, "length": 1}
                signed = canonical.bin_signed(step, "2030-01-02T03:04:05Z", targets, texts, [path])
                assert signed == sslib_encode(_bin_dict(targets) | {"version": step}).encode()
    assert len(texts) == len(targets)


def test_snapshot_template_matches() -> None:
    meta = {f"bin-{i:04x}.json": (i * 31) % 997 + 1 for i in range(4096)}
    meta |= {"bins.json": 3, "targets.json": 2}
    for case in (meta, {"targets.json": 1}, {}, {'we"ird.json': 1}, {"bins.json": 2**70}):
        signed = canonical.snapshot_signed(12, "2030-01-02T03:04:05Z", case)
        expected = {
            "_type": "snapshot",
            "expires": "2030-01-02T03:04:05Z",
            "meta": {k: {"version": v} for k, v in case.items()},
            "spec_version": canonical.SPEC_VERSION,
            "version": 12,
        }
        assert signed == sslib_encode(expected).encode()


def test_snapshot_template_incremental_hints_are_checked() -> None:
    """Whatever ``changed`` says (right, wrong, stale), the bytes are the canonical ones."""
    rng = random.Random(5)
    template = canonical.SnapshotTemplate()
    meta = {f"bin-{i:02x}.json": 1 for i in range(256)} | {"bins.json": 1, "targets.json": 1}
    for step in range(300):
        meta = dict(meta)
        names = rng.sample(sorted(meta), rng.randrange(0, 4))
        for name in names:
            meta[name] += 1
        hint: list[str] | None = names
        kind = step % 6
        if kind == 1:
            hint = names[:-1]  # incomplete
        elif kind == 2:
            hint = ["bin-zz.json"]  # unknown name
        elif kind == 3:
            meta[f"bin-{step:03x}.json"] = 1  # a new name, not hinted
        elif kind == 4 and names:
            meta[names[0]] = True  # a bool is == 1 but encodes as true
        elif kind == 5:
            hint = None
        signed = template.signed(7, "2030-01-02T03:04:05Z", meta, hint)
        expected = {
            "_type": "snapshot",
            "expires": "2030-01-02T03:04:05Z",
            "meta": {k: {"version": v} for k, v in meta.items()},
            "spec_version": canonical.SPEC_VERSION,
            "version": 7,
        }
        assert signed == sslib_encode(expected).encode(), step
        if kind == 4 and names:
            meta[names[0]] = 1


def test_signed_file_verifies_with_python_tuf() -> None:
    signer = CryptoSigner.generate_ed25519()
    targets = {"simple/a/index.html": {"hashes": {"sha256": "1" * 64}, "length": 10}}
    signed = canonical.bin_signed(3, "2030-01-02T03:04:05Z", targets)
    data = canonical.metadata_file(signed, canonical.sign_bytes(signed, [signer]))
    md = Metadata[Targets].from_bytes(data)
    signer.public_key.verify_signature(md.signatures[signer.public_key.keyid], md.signed_bytes)
    assert md.signed.targets["simple/a/index.html"] == TargetFile(
        10, {"sha256": "1" * 64}, "simple/a/index.html"
    )

    meta = {"targets.json": 1, "bins.json": 1, "bin-0.json": 4}
    signed = canonical.snapshot_signed(5, "2030-01-02T03:04:05Z", meta)
    data = canonical.metadata_file(signed, canonical.sign_bytes(signed, [signer]))
    snap = Metadata[Snapshot].from_bytes(data)
    signer.public_key.verify_signature(snap.signatures[signer.public_key.keyid], snap.signed_bytes)
    assert snap.signed.meta["bin-0.json"] == MetaFile(4)
