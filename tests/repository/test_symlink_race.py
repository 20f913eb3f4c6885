"""Issue 18 item 3: a local writer of ``simple/`` swaps a symlink in and out while the
publisher reads. Pages are opened beneath directory descriptors with ``O_NOFOLLOW``
at every component, after the resolved path was checked, so the file outside the
repository is never read, copied or signed."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

from tuf_pypi.repository import load_view
from tuf_pypi.repository.scan import read_page
from tuf_pypi.testing.signed_repo import targets_of


def _swap_forever(link: str, targets: list[str], stop) -> None:
    """Replace ``link`` by a symlink to each target in turn, atomically, until told."""
    tmp = f"{link}.racer"
    i = 0
    while not stop.is_set():
        try:
            os.symlink(targets[i % len(targets)], tmp)
            os.replace(tmp, link)
        except OSError:
            pass
        i += 1


def _secret_page(signed, tmp_path: Path) -> tuple[Path, str]:
    data = signed.page("demo-core").read_bytes().replace(b"</body>", b"<!-- secret --></body>")
    secret = tmp_path / "secret.html"
    secret.write_bytes(data)
    os.chmod(secret, 0o600)
    return secret, hashlib.sha256(data).hexdigest()


def test_racing_symlink_swaps_never_get_an_outside_file_read(make_repo, tmp_path) -> None:
    signed = make_repo()
    secret, secret_sha = _secret_page(signed, tmp_path)
    project = signed.repo / "simple" / "evil"
    project.mkdir()
    page = project / "index.html"
    inside = str(signed.page("demo-core"))
    page.symlink_to(inside)
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    racer = ctx.Process(target=_swap_forever, args=(str(page), [inside, str(secret)], stop))
    racer.start()
    try:
        outcomes = set()
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            got = read_page(signed.repo, "evil", "index.html")
            outcomes.add(type(got).__name__)
            assert got is None or not hasattr(got, "sha256") or got.sha256 != secret_sha
        publisher = signed.publisher(processes=1)
        for _ in range(3):
            publisher.publish(["evil"])
            publisher.publish()  # the full scan's fast path meets the symlink too
    finally:
        stop.set()
        racer.join(10)
    assert "Page" in outcomes and "Skipped" in outcomes  # the race was really run
    assert not list(project.glob(f"{secret_sha}.*"))  # never copied into the served tree
    view = load_view(signed.storage)
    for path in targets_of(signed.repo):
        target = view.bin(view.bin_of(path)).signed.targets[path]
        assert target.hashes["sha256"] != secret_sha, path
