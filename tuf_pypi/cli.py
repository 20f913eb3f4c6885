"""The ``tuf-pypi`` command: the group, with commands from ``tuf_pypi.commands``.

Each area's commands live in their own module under ``commands/``; this file only
assembles them, so ``tuf-pypi --help`` lists everything in one place.
"""

from __future__ import annotations

import click

from . import __version__
from .commands import repository


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tuf-pypi")
def main() -> None:
    """Sign a Python package index with TUF (PEP 458) and verify it.

    \b
    Index admins:   init, publish, refresh, status, verify
    Exit codes:     0 ok, 1 failed, 2 usage, 3 partial/expiring soon, 4 expired
    Docs:           docs/repository.md, docs/cli.md
    """


for _command in repository.COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
