"""Publishing: what gets signed, what is left alone, and bad input that is refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata

from tuf_pypi import layout, pages
from tuf_pypi.keys import KeyFileError
from tuf_pypi.repository import load_view, verify_repository
from tuf_pypi.sample import SampleDist, add_release
from tuf_pypi.testing.signed_repo import SignedRepo


def _tree(repo: Path) -> dict[str, tuple[int, int]]:
    """Every file with (size, mtime_ns): to prove a run wrote nothing."""
    out = {}
    for dirpath, _dirs, files in os.walk(repo):
        for name in files:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), repo)] = (st.st_size, st.st_mtime_ns)
    return out


def _signed_targets(signed: SignedRepo) -> dict[str, str]:
    view = load_view(signed.storage)
    return {
        path: target.hashes["sha256"]
        for name in view.bin_names()
        for path, target in view.bin(name).signed.targets.items()
    }


def test_first_publish_signs_every_page(make_repo) -> None:
    signed = make_repo()
    targets = _signed_targets(signed)
    assert sorted(targets) == sorted(
        f"simple/{p}/{f}"
        for p in ("demo-app", "demo-core", "demo-extra", "demo-lib")
        for f in layout.PAGE_FORMS
    )
    for path, digest in targets.items():
        project_dir = signed.repo / Path(path).parent
        copy = project_dir / layout.consistent_name(Path(path).name, digest)
        assert copy.read_bytes() == (signed.repo / path).read_bytes()
    report = verify_repository(signed.storage, signed.clock())
    assert report.ok, report.problems
    assert report.pending == [] and report.targets_checked == 8


def test_publish_without_changes_writes_nothing(make_repo) -> None:
    signed = make_repo()
    before = _tree(signed.repo)
    report = signed.publisher().publish()
    assert report.unchanged == 8 and not report.wrote_metadata
    assert _tree(signed.repo) == before


def test_changed_project_resigns_only_its_bins(make_repo) -> None:
    signed = make_repo(bins=64)
    before = load_view(signed.storage)
    add_release(signed.repo, SampleDist("demo-lib", "3.0"))
    report = signed.publisher().publish()
    assert sorted(report.changed) == ["simple/demo-lib/index.html", "simple/demo-lib/index.v1_json"]
    expected_bins = {before.bin_of(path) for path in report.changed}
    assert set(report.bins_signed) == expected_bins
    after = load_view(signed.storage)
    for name in before.bin_names():
        bumped = after.version_of(name) == before.version_of(name) + 1
        assert bumped == (name in expected_bins), name
    assert after.snapshot.signed.version == before.snapshot.signed.version + 1
    assert after.timestamp.signed.version == before.timestamp.signed.version + 1
    assert verify_repository(signed.storage, signed.clock()).ok


def test_project_option_normalizes_and_limits_the_scan(make_repo) -> None:
    signed = make_repo()
    add_release(signed.repo, SampleDist("Demo_Core", "2.0"))
    add_release(signed.repo, SampleDist("demo-app", "2.0"))
    report = signed.publisher().publish(["Demo_Core"])
    assert sorted(report.changed) == [
        "simple/demo-core/index.html",
        "simple/demo-core/index.v1_json",
    ]
    verify = verify_repository(signed.storage, signed.clock())
    assert verify.ok and sorted(verify.pending) == [
        "simple/demo-app/index.html: changed since it was signed",
        "simple/demo-app/index.v1_json: changed since it was signed",
    ]


@pytest.mark.parametrize("projects", [None, ["demo-extra"]])
def test_removed_project_loses_its_targets(make_repo, projects) -> None:
    signed = make_repo()
    shutil.rmtree(signed.repo / "simple" / "demo-extra")
    report = signed.publisher().publish(projects)
    assert sorted(report.removed) == [
        "simple/demo-extra/index.html",
        "simple/demo-extra/index.v1_json",
    ]
    assert not any("demo-extra" in p for p in _signed_targets(signed))
    assert verify_repository(signed.storage, signed.clock()).ok


def test_removed_single_form(make_repo) -> None:
    signed = make_repo()
    signed.page("demo-app", "index.v1_json").unlink()
    report = signed.publisher().publish()
    assert report.removed == ["simple/demo-app/index.v1_json"]
    assert "simple/demo-app/index.html" in _signed_targets(signed)


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "café", "-x"])
def test_invalid_project_argument_is_refused_before_writing(make_repo, name) -> None:
    signed = make_repo()
    with pytest.raises(layout.LayoutError, match="not a valid project name"):
        signed.publisher().publish([name])


def test_unverifiable_links_are_reported(make_repo) -> None:
    signed = make_repo()
    page = signed.page("demo-core")
    html = page.read_text().replace(
        "</body>", '<a href="../x/legacy-0.1.tar.gz">legacy-0.1.tar.gz</a></body>'
    )
    page.write_text(html)
    report = signed.publisher().publish()
    assert report.unverifiable == {"simple/demo-core/index.html": 1}
    assert report.changed == ["simple/demo-core/index.html"]


def _assert_skipped(signed: SignedRepo, source: str, reason: str, before: dict[str, str]) -> None:
    report = signed.publisher().publish()
    skipped = {s.source: s.reason for s in report.skipped}
    assert source in skipped, skipped
    assert reason in skipped[source]
    # Nothing about the bad page was signed: the previous signature (if any) stays.
    assert _signed_targets(signed) == before


def test_non_normalized_directory_is_skipped(make_repo) -> None:
    signed = make_repo()
    before = _signed_targets(signed)
    bad = signed.repo / "simple" / "Demo_Core"
    bad.mkdir()
    shutil.copy(signed.page("demo-core"), bad / "index.html")
    _assert_skipped(signed, "simple/Demo_Core", "not a PEP 503 normalized", before)


def test_symlinked_page_leaving_the_repo_is_skipped(make_repo, tmp_path) -> None:
    signed = make_repo()
    before = _signed_targets(signed)
    outside = tmp_path / "secret.html"
    outside.write_text("<html><body>secret</body></html>")
    project = signed.repo / "simple" / "evil"
    project.mkdir()
    (project / "index.html").symlink_to(outside)
    _assert_skipped(signed, "simple/evil/index.html", "outside the repository", before)
    assert not any(p.name.endswith(".index.html") for p in project.iterdir())


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_page_that_is_not_a_regular_file_is_skipped(make_repo, kind, cached) -> None:
    """Opened with O_NONBLOCK: a FIFO cannot hang a publish, whatever the stat cache knows."""
    signed = make_repo()
    publisher = signed.publisher(processes=1)
    if cached:
        publisher.publish()  # the cache now knows every page
    before = _signed_targets(signed)
    page = signed.page("demo-lib", "index.v1_json")
    page.unlink()
    if kind == "fifo":
        os.mkfifo(page)
    else:
        page.mkdir()
    report = publisher.publish()
    skipped = {s.source: s.reason for s in report.skipped}
    assert "not a regular file" in skipped["simple/demo-lib/index.v1_json"]
    assert _signed_targets(signed) == before


def test_symlinked_project_dir_leaving_the_repo_is_skipped(make_repo, tmp_path) -> None:
    signed = make_repo()
    before = _signed_targets(signed)
    outside = tmp_path / "elsewhere"
    shutil.copytree(signed.repo / "simple" / "demo-core", outside)
    (signed.repo / "simple" / "evil").symlink_to(outside, target_is_directory=True)
    _assert_skipped(signed, "simple/evil", "outside the repository", before)


def test_invalid_utf8_page_is_skipped_and_old_signature_kept(make_repo) -> None:
    signed = make_repo()
    before = _signed_targets(signed)
    page = signed.page("demo-lib")
    page.write_bytes(page.read_bytes().replace(b"</body>", b"\xff\xfe</body>"))
    _assert_skipped(signed, "simple/demo-lib/index.html", "UTF-8", before)
    project_dir = page.parent
    digests = {p.name.split(".")[0] for p in project_dir.glob("*.index.html")}
    assert digests == {before["simple/demo-lib/index.html"]}


def test_huge_page_is_skipped(make_repo, monkeypatch) -> None:
    signed = make_repo()
    before = _signed_targets(signed)
    monkeypatch.setattr(pages, "MAX_PAGE_BYTES", 4096)
    page = signed.page("demo-app", "index.v1_json")
    page.write_bytes(b" " * 5000 + page.read_bytes())
    _assert_skipped(signed, "simple/demo-app/index.v1_json", "size limit", before)


@pytest.mark.parametrize(
    ("form", "content", "reason"),
    [
        ("index.v1_json", b'{"meta": {"api-version": "1.0"}, "name": "demo-app"', "JSON"),
        ("index.v1_json", b"<html><body></body></html>", "wrong content"),
        ("index.html", b'{"files": []}', "wrong content"),
        ("index.v1_json", b'{"meta": {"api-version": "2.0"}, "name": "x", "files": []}', "version"),
    ],
)
def test_malformed_pages_are_skipped(make_repo, form, content, reason) -> None:
    signed = make_repo()
    before = _signed_targets(signed)
    signed.page("demo-app", form).write_bytes(content)
    _assert_skipped(signed, f"simple/demo-app/{form}", reason, before)


def test_wrong_passphrase_writes_nothing(make_repo) -> None:
    from tuf_pypi.keys import KeyDirectory
    from tuf_pypi.repository import Publisher

    signed = make_repo()
    add_release(signed.repo, SampleDist("demo-lib", "3.0"))
    before_tuf = _tree(signed.repo / "tuf")
    guess = "Tr0ub4dor&3-guess"
    keys = KeyDirectory(signed.keys_dir, passphrase=lambda _label: guess)
    with pytest.raises(KeyFileError, match="wrong passphrase") as info:
        Publisher(signed.repo, keys, clock=signed.clock).publish()
    assert guess not in str(info.value)
    assert _tree(signed.repo / "tuf") == before_tuf


def test_missing_online_key_is_a_clear_error(make_repo) -> None:
    signed = make_repo()
    (signed.keys_dir / "online.key").unlink()
    add_release(signed.repo, SampleDist("demo-lib", "3.0"))
    with pytest.raises(KeyFileError, match="no key for role 'bin-n'"):
        signed.publisher().publish()


def test_offline_keys_are_not_needed_to_publish(make_repo) -> None:
    signed = make_repo()
    for name in ("root-1.key", "targets.key", "bins.key"):
        (signed.keys_dir / name).unlink()
    add_release(signed.repo, SampleDist("demo-lib", "3.0"))
    assert signed.publisher().publish().wrote_metadata
    assert verify_repository(signed.storage, signed.clock()).ok


def test_repaired_copy_and_verify_detects_tampered_copy(make_repo) -> None:
    signed = make_repo()
    digest = _signed_targets(signed)["simple/demo-app/index.html"]
    copy = signed.repo / "simple" / "demo-app" / layout.consistent_name("index.html", digest)
    copy.write_text("tampered")
    report = verify_repository(signed.storage, signed.clock())
    assert any("does not match the signed hash" in p for p in report.problems)
    copy.unlink()
    report = verify_repository(signed.storage, signed.clock())
    assert any("missing" in p for p in report.problems)
    assert signed.publisher().publish().repaired == ["simple/demo-app/index.html"]
    assert verify_repository(signed.storage, signed.clock()).ok


def test_verify_catches_metadata_tampering(make_repo) -> None:
    signed = make_repo()
    view = load_view(signed.storage)
    name = view.bin_of("simple/demo-app/index.html")
    path = signed.repo / "tuf" / layout.metadata_filename(name, view.version_of(name))
    md = Metadata.from_bytes(path.read_bytes())
    md.signed.targets["simple/demo-app/index.html"].length += 1
    path.write_bytes(md.to_bytes())
    problems = verify_repository(signed.storage, signed.clock()).problems
    assert any("signatures do not meet threshold" in p and name in p for p in problems)
