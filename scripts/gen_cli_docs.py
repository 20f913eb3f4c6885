"""Regenerate docs/cli.md from the commands' own --help, so the two never drift.

Usage: .venv/bin/python scripts/gen_cli_docs.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tuf_pypi.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

HEADER = """# tuf-pypi command reference

Generated from `tuf-pypi --help` by `scripts/gen_cli_docs.py`; a test keeps it current.
Task-oriented guides: [repository.md](repository.md) for index admins.

## Exit codes

| code | meaning |
|---|---|
| 0 | success |
| 1 | failed: an error (one line on stderr, `error: ...`, naming the file, project or role), or `verify` found problems. A Python traceback instead of that line is a bug in tuf-pypi: please report it with the traceback |
| 2 | usage error: a bad option or argument |
| 3 | partly done: `publish` skipped pages it could not sign; `verify` found pages not yet signed; `status`: a role expires within its warning window |
| 4 | `status`: a role has expired |
| any | `run`: the wrapped command's own exit code (128 + N if signal N ended it); 1 if `run` itself failed before starting it |

## Environment

| variable | used for |
|---|---|
| `TUF_PYPI_PASSPHRASE` | passphrase of the **online** key file (`publish`, `refresh`, `apply`, `recover`, `init`, `key generate --online`); else a prompt; commands run without a terminal fail instead, naming the variable |
| `TUF_PYPI_OFFLINE_PASSPHRASE` | passphrase of **offline** key files (root, targets, bins: `init`, `key generate`, `sign`, and `rebin` for the bins key); must differ from `TUF_PYPI_PASSPHRASE`; never set it on the publishing host |
| `TUF_PYPI_KEYS_DIR` | default for `--keys-dir` |
| `TUF_PYPI_CACHE` | default for `--cache` of `download`, `proxy` and `run` |
| `TUF_PYPI_CONFIG` | the configuration file `run` reads (see docs/proxy.md, "The configuration file") |
"""


def _help(path: list[str]) -> str:
    command: click.Command = main
    ctx = click.Context(
        main, info_name="tuf-pypi", terminal_width=88, max_content_width=88, **main.context_settings
    )
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
        ctx = click.Context(command, info_name=name, parent=ctx)
    return command.get_help(ctx)


def _walk(command: click.Command, path: list[str]):
    yield path
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], [*path, name])


def render() -> str:
    parts = [HEADER]
    for path in _walk(main, []):
        title = " ".join(["tuf-pypi", *path])
        parts.append(f"\n## `{title}`\n\n```text\n{_help(path).rstrip()}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(
            0 if DOC.read_text() == text else "docs/cli.md is stale: run scripts/gen_cli_docs.py"
        )
    DOC.write_text(text)
