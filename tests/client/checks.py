"""Limits for tests, the actions attacks target, and the assertion every attack test makes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tuf_pypi.client import AllMirrorsFailedError, Client, Limits

#: The project whose page and wheel the attacks target.
PROJECT = "demo-core"

Action = Callable[[Client], bytes]

#: Generous enough for honest local transfers, short enough that a bug does not hang.
FAST = Limits(connect_timeout=2.0, read_timeout=2.0)
#: For slow retrieval tests: silence fails after 1 s, and the average rate is checked
#: after 0.3 s. A trickle of 20 bytes/s fails; an honest local transfer would have to
#: take seconds to fall below 100 bytes/s.
SLOW_CHECK = Limits(
    connect_timeout=2.0, read_timeout=1.0, grace_seconds=0.3, min_bytes_per_second=100
)


def refused(excinfo: pytest.ExceptionInfo[AllMirrorsFailedError], *kinds: type) -> None:
    """The error lists one failure per source tried, of these types, in this order."""
    errors = excinfo.value.errors
    assert [type(e) for e in errors] == list(kinds), str(excinfo.value)


def page_bytes(client: Client) -> bytes:
    return client.page(PROJECT).data


def wheel_bytes(dest: Path) -> Action:
    """Fetch the page, then download its first file into ``dest``."""

    def action(client: Client) -> bytes:
        page = client.page(PROJECT)
        return client.download(page, page.page.files[0], dest).read_bytes()

    return action
