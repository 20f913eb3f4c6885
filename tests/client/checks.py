"""The actions attacks target, the assertion every attack test makes, the clients' type.

Their limits are tuf_pypi.testing.limits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tuf_pypi.client import AllMirrorsFailedError, Client

#: The project whose page and wheel the attacks target.
PROJECT = "demo-core"

Action = Callable[[Client], bytes]
#: The ``make_client`` fixture: a Client over the given mirrors.
MakeClient = Callable[..., Client]


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
