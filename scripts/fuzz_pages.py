"""Coverage-guided fuzzing of the page parsers with atheris, for long unattended runs.

The oracle is the one of ``tests/pages/test_fuzz_pages.py`` (``check_readers_agree``): the
publisher's parser, the publish-time fast checks, the fast HTML grammar and what the
proxy renders agree on a page, or all refuse it with the same ``PageError``; anything
else raised is a bug. Hypothesis runs in CI; this finds inputs by coverage instead.

Usage (from the checkout; atheris is not a test dependency)::

    .venv/bin/pip install atheris
    mkdir -p /tmp/page-corpus
    .venv/bin/python scripts/fuzz_pages.py /tmp/page-corpus -max_total_time=600

An input's first byte picks the form (even: HTML, odd: JSON), the rest is the page. An
empty corpus directory is first filled with the realistic pages the tests start from.
A crash is written to ``crash-<sha1>``; replay it with the same command and the file
name in place of the directory, and add it to ``tests/pages/test_pages.py`` once fixed.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import atheris

# Instrumented (for coverage) before the oracle below imports them.
with atheris.instrument_imports():
    import tuf_pypi.pages  # noqa: F401  (the package imports all its modules)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pages.test_fuzz_pages import HTML_SEEDS, JSON_SEEDS, check_readers_agree


def one_input(data: bytes) -> None:
    if data:
        check_readers_agree(data[1:], "json" if data[0] & 1 else "html")


def _fill(corpus: Path) -> None:
    seeds = [b"h" + page for page in HTML_SEEDS] + [b"j" + page for page in JSON_SEEDS]
    for seed in seeds:
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def main() -> None:
    for arg in sys.argv[1:]:
        path = Path(arg)
        if not arg.startswith("-") and path.is_dir() and not any(path.iterdir()):
            _fill(path)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
