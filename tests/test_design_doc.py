"""docs/design.md agrees with the code: the sections the code cites, the modules and
the default lifetimes it names."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from tuf_pypi.repository import DEFAULT_EXPIRY

CLONE = Path(__file__).resolve().parents[1]
DESIGN = (CLONE / "docs" / "design.md").read_text()


def _sections() -> set[str]:
    return set(re.findall(r"^## (\d+)\. ", DESIGN, re.M))


def test_every_section_the_code_and_docs_cite_exists() -> None:
    cited: dict[str, str] = {}
    files = [*(CLONE / "tuf_pypi").rglob("*.py"), *(CLONE / "tests").rglob("*.py")]
    files += [*(CLONE / "docs").glob("*.md"), CLONE / "README.md"]
    for file in files:
        for number in re.findall(r"DESIGN(?:\.md)? §(\d+)|design §(\d+)", file.read_text()):
            cited.setdefault("".join(number), str(file.relative_to(CLONE)))
    assert cited
    missing = {n: f for n, f in cited.items() if n not in _sections()}
    assert not missing, f"cited but not in docs/design.md: {missing}"
    assert "../shared/DESIGN.md" not in (CLONE / "README.md").read_text()


def test_the_modules_of_section_7_exist() -> None:
    block = DESIGN.split("## 7.", 1)[1].split("```")[1]
    names = re.findall(r"^  ([a-z_]+(?:\.py|/))", block, re.M)
    assert len(names) >= 10
    for name in names:
        assert (CLONE / "tuf_pypi" / name.rstrip("/")).exists(), name


def test_the_default_lifetimes_are_the_code_s() -> None:
    table = DESIGN.split("## 4.", 1)[1]
    rows = dict(re.findall(r"^\| ([\w-]+) \|.*\| (\d+) days? \|$", table, re.M))
    expected = {
        "root": DEFAULT_EXPIRY.root,
        "targets": DEFAULT_EXPIRY.targets,
        "bins": DEFAULT_EXPIRY.bins,
        "bin-XXXX": DEFAULT_EXPIRY.bin_n,
        "snapshot": DEFAULT_EXPIRY.snapshot,
        "timestamp": DEFAULT_EXPIRY.timestamp,
    }
    assert {role: timedelta(days=int(days)) for role, days in rows.items()} == expected
