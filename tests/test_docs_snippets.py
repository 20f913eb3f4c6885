"""Every command in docs/ works when pasted: the fenced blocks of each page, run in order.

Each page's ``bash``/``sh`` and ``python`` blocks run top to bottom in one bash session
(exports carry over, as when a reader pastes them into one terminal), from a scratch
directory (README.md: from the clone, as it says), with a scratch ``HOME``, on
loopback only. ``$CLONE`` is this clone.

A block may be preceded by one marker comment, invisible in the rendered page:

- ``<!-- doc-test: skip REASON -->``: not run; the reason says why it cannot run here
  (needs root and systemd, a real HSM, the public internet...). A reason is required.
- ``<!-- doc-test: service -->``: a foreground command that runs until stopped (a
  server, a loop): started in the background, it must still be running after a few
  seconds without printing ``error:``; then it is stopped.
- ``<!-- doc-test: fails -->``: shown failing on purpose: it must exit non-zero.

Blocks in other languages (text, ini, cron, toml, ...) are shown, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CLONE = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (CLONE / "docs").glob("*.md") if p.name != "cli.md")
PAGES.append(CLONE / "README.md")
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- doc-test: (skip|service|fails)\b\s*(.*?)\s*-->$")
_SYSTEM_PATH = "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Seconds a service block must stay up.
SERVICE_SECONDS = 4


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    text: str
    marker: str | None
    reason: str


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with the marker right above each (if any)."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        marker = _MARKER.match(lines[start - 1]) if start > 0 else None
        found.append(
            Block(
                page.name,
                start + 1,
                fence.group(1),
                "\n".join(body) + "\n",
                marker.group(1) if marker else None,
                marker.group(2) if marker else "",
            )
        )
    return found


def _script(blocks: list[Block], scratch: Path) -> str:
    """One bash script running every runnable block of a page, in order."""
    out = ["set -euo pipefail", "set -m", 'SERVICES=""', _STOP_SERVICES]
    for n, block in enumerate(blocks):
        if block.lang not in ("bash", "sh", "python") or block.marker == "skip":
            continue
        where = f"{block.page}:{block.line}"
        file = scratch / f"block-{n}.{'py' if block.lang == 'python' else 'sh'}"
        file.write_text(block.text)
        out.append(f'echo "### {where}" >&2')
        if block.lang == "python":
            out.append(f"python3 {file}")
        elif block.marker == "service":
            log = scratch / f"block-{n}.log"
            out.append(
                f'( . {file} ) > {log} 2>&1 & pid=$!; SERVICES="$SERVICES $pid"\n'
                f"sleep {SERVICE_SECONDS}\n"
                f'if ! kill -0 $pid 2>/dev/null || grep -q "error:" {log}; then\n'
                f'  echo "service block {where} stopped or failed:" >&2; cat {log} >&2; exit 1\n'
                "fi"
            )
        elif block.marker == "fails":
            out.append(f'if ( . {file} ); then echo "{where} should fail" >&2; exit 1; fi')
        else:
            out.append(f". {file}")
    out.append('echo "### done" >&2')
    return "\n".join(out) + "\n"


_STOP_SERVICES = """\
stop_services() {
  for pid in $SERVICES; do kill -- -"$pid" 2>/dev/null || true; done
  jobs -p | xargs -r kill 2>/dev/null || true
}
trap stop_services EXIT
"""


def test_markers_are_well_formed() -> None:
    for page in PAGES:
        for n, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("<!-- doc-test:"):
                assert _MARKER.match(line), f"{page.name}:{n}: unknown marker {line!r}"
        for block in blocks_of(page):
            if block.marker == "skip":
                assert block.reason, f"{page.name}:{block.line}: skip needs a reason"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_commands_run_as_pasted(page: Path) -> None:
    blocks = blocks_of(page)
    if not any(b.lang in ("bash", "sh", "python") and b.marker != "skip" for b in blocks):
        pytest.skip(f"{page.name} has no runnable blocks")
    # nginx's workers (www-data) and the sample servers must reach the scratch tree,
    # so it lives under /tmp rather than pytest's private tmp directory.
    scratch = Path(tempfile.mkdtemp(prefix="tuf-pypi-docs-", dir="/tmp"))
    try:
        scratch.chmod(0o755)
        home = scratch / "home"
        work = scratch / "cwd"
        home.mkdir()
        work.mkdir()
        (scratch / "tmp").mkdir(mode=0o1777)
        (scratch / "tmp").chmod(0o1777)
        venv_bin = Path(sys.executable).parent
        env = {
            "HOME": str(home),
            "TMPDIR": str(scratch / "tmp"),
            "PATH": os.pathsep.join([str(home / ".local/bin"), str(venv_bin), _SYSTEM_PATH]),
            "CLONE": str(CLONE),
            "LANG": "C.UTF-8",
        }
        for name in ("PIP_FIND_LINKS", "PIP_CERT", "SSL_CERT_FILE", "CI"):
            if name in os.environ:
                env[name] = os.environ[name]
        script = scratch / "page.sh"
        script.write_text(_script(blocks, scratch))
        done = subprocess.run(
            ["bash", str(script)],
            cwd=CLONE if page.name == "README.md" else work,  # "from a clone", it says
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            start_new_session=True,
        )
        last = [line for line in done.stderr.splitlines() if line.startswith("### ")]
        where = last[-1][4:] if last else "the start"
        assert done.returncode == 0, (
            f"{page.name}: failed in the block at {where}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
        assert last and last[-1] == "### done"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
