"""The publisher's plain-dict view of the published state."""

from __future__ import annotations

import random

import pytest
from tuf.api.metadata import SuccinctRoles

from tuf_pypi.repository.state import load_state


@pytest.mark.parametrize("bins", [2, 16, 256, 16384])
def test_bin_of_agrees_with_python_tuf(make_repo, bins: int) -> None:
    state = load_state(make_repo(bins=bins, publish=False).storage)
    rng = random.Random(bins)
    paths = [f"simple/{rng.randbytes(6).hex()}/index.html" for _ in range(2000)]
    paths += ["simple/ö-ß/index.v1_json", "", "simple/x/index.html"]
    for path in paths:
        assert state.bin_of(path) == state.succinct.get_role_for_target(path)


def test_bin_of_follows_a_new_delegation(make_repo) -> None:
    state = load_state(make_repo(bins=16, publish=False).storage)
    state.bin_of("simple/a/index.html")
    state.succinct = SuccinctRoles(state.succinct.keyids, 1, 8, "bin")
    for n in range(200):
        path = f"simple/p{n}/index.html"
        assert state.bin_of(path) == state.succinct.get_role_for_target(path)
        assert len(state.bin_of(path)) == len("bin-ff")
