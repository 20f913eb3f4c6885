"""The ``tuf-pypi`` command: the group, with commands from ``tuf_pypi.commands``.

Each area's commands live in their own module under ``commands/``; this file only
assembles them, so ``tuf-pypi --help`` lists everything in one place.
"""

from __future__ import annotations

import click

from . import __version__
from .commands import client as client_commands
from .commands import gc as gc_commands
from .commands import keys, performance, repository
from .commands import mirror as mirror_commands
from .commands import proxy as proxy_commands
from .commands import publisher as publisher_commands
from .commands import run as run_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tuf-pypi")
def main() -> None:
    """Sign a Python package index with TUF (PEP 458) and verify it.

    \b
    Index admins:     init, publish, refresh, status, verify, gc
    Upload queue:     queue, publisher
    Key ceremonies:   key, root, targets, bins, sign, recover
    Sizing:           plan, rebin
    Mirror operators: mirror sync, mirror overlay, gc
    Installers:       run -- pip install ..., download, proxy (for unmodified pip and uv)
    Exit codes:       0 ok, 1 failed, 2 usage, 3 partial/expiring soon, 4 expired
    Docs:             docs/*.md (repository, ceremony, mirror, client, cli, ...)
    """


for _area in (
    repository,
    keys,
    publisher_commands,
    performance,
    gc_commands,
    mirror_commands,
    client_commands,
    proxy_commands,
    run_commands,
):
    for _command in _area.COMMANDS:
        main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
