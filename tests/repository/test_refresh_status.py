"""Expiry: refresh re-signs online roles in time; status tells monitoring what is due."""

from __future__ import annotations

from datetime import timedelta

from tuf_pypi.repository import load_view, repository_status, verify_repository


def _states(signed, warn_online=timedelta(hours=6), warn_offline=timedelta(days=30)):
    report = repository_status(load_view(signed.storage), signed.clock(), warn_online, warn_offline)
    return {r.role.split(" ")[0]: r.state for r in report.roles}, report


def test_fresh_repository_is_ok(make_repo) -> None:
    signed = make_repo()
    states, report = _states(signed)
    assert set(states.values()) == {"ok"} and report.worst == "ok"
    assert report.targets == 8 and report.number_of_bins == 16
    roles = {r.role.split(" ")[0]: r for r in report.roles}
    assert roles["timestamp"].online and roles["bin-n"].online and not roles["root"].online
    assert roles["timestamp"].keyids == roles["snapshot"].keyids


def test_refresh_keeps_a_quiet_repository_valid(make_repo) -> None:
    signed = make_repo()
    refresh = signed.publisher().refresh
    assert refresh(timedelta(hours=12)).resigned == []  # nothing due yet

    signed.clock.advance(hours=13)  # timestamp (1 day) is due within 12h
    states, _ = _states(signed, warn_online=timedelta(hours=12))
    assert states["timestamp"] == "expiring" and states["snapshot"] == "ok"
    report = refresh(timedelta(hours=12))
    assert report.resigned == ["snapshot", "timestamp"] and report.timestamp_version == 3

    signed.clock.advance(days=6, hours=12)  # bins and snapshot (7 days) due
    assert not verify_repository(signed.storage, signed.clock()).ok  # timestamp expired
    report = refresh(timedelta(hours=12))
    assert len(report.resigned) == 16 + 2
    view = load_view(signed.storage)
    assert all(view.version_of(name) >= 2 for name in view.bin_names())
    assert verify_repository(signed.storage, signed.clock()).ok


def test_status_reports_expired_and_offline_roles_due(make_repo) -> None:
    signed = make_repo()
    signed.clock.advance(days=2)
    states, report = _states(signed)
    assert states["timestamp"] == "expired" and report.worst == "expired"
    assert any("tuf-pypi refresh" in line for line in report.advice())

    signed.publisher().refresh(timedelta(days=8))
    signed.clock.advance(days=340)  # root, targets, bins (365 days) within 30 days
    signed.publisher().refresh(timedelta(days=8))
    states, report = _states(signed)
    assert states["root"] == states["targets"] == states["bins"] == "expiring"
    assert states["timestamp"] == "ok"
    assert any("offline keys" in line for line in report.advice())
