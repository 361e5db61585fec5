"""The lab's fill rounds wait for a heartbeat sent after the fill, and see peer sources."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from control_plane.manifests.store import ManifestPointer
from lab.fill_rounds import (
    FillTrace,
    HeldView,
    MemberTrace,
    RoundTrace,
    fill_is_known,
    manifest_sources,
)
from lab.plan import shut_fill_window
from tests.support.manifests import BuiltManifest, File, manifest_of

SHA = "a" * 64

FINISHED = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
STATUS: dict[str, Any] = {
    "manifest_version": "m2",
    "missing_count": 0,
    "fill": {"last_result": "ok", "last_finished_at": FINISHED.isoformat()},
}
AFTER_FILL = HeldView(
    appliance_id="ams1-a",
    healthy=True,
    manifest_version="m2",
    objects_held=4,
    fill_last_result="ok",
    fill_last_finished_at=FINISHED,
)


@pytest.mark.parametrize(
    ("view", "known"),
    [
        (AFTER_FILL, True),
        # Sent when the fill started: the new version, with every key missing.
        (AFTER_FILL.model_copy(update={"missing_keys": 4, "fill_running": True}), False),
        (AFTER_FILL.model_copy(update={"missing_truncated": True}), False),
        (AFTER_FILL.model_copy(update={"fill_running": True}), False),
        (AFTER_FILL.model_copy(update={"manifest_version": "m1"}), False),
        # From an earlier fill of the same version: its finish time is older.
        (AFTER_FILL.model_copy(update={"fill_last_finished_at": FINISHED - timedelta(1)}), False),
        (AFTER_FILL.model_copy(update={"healthy": False}), False),
        (HeldView(appliance_id="ams1-a", reason="no health record"), False),
    ],
    ids=[
        "after",
        "at-start",
        "truncated",
        "running",
        "old-version",
        "old-fill",
        "unhealthy",
        "none",
    ],
)
def test_a_fill_is_known_only_from_a_heartbeat_sent_after_it(view: HeldView, known: bool) -> None:
    assert fill_is_known(view, STATUS) is known


def test_an_agent_whose_fill_did_not_finish_whole_is_not_known() -> None:
    partial = {**STATUS, "missing_count": 1}
    assert not fill_is_known(AFTER_FILL, partial)
    failed = {**STATUS, "fill": {**STATUS["fill"], "last_result": "partial"}}
    assert not fill_is_known(AFTER_FILL, failed)


class _Manifests:
    def __init__(self, built: BuiltManifest | None) -> None:
        self.built = built

    def latest(self, appliance_id: str) -> ManifestPointer | None:
        if self.built is None:
            return None
        body = self.built.body
        return ManifestPointer(
            version=self.built.manifest.version,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            written_at=FINISHED,
        )

    def body(self, appliance_id: str, version: str) -> bytes | None:
        return None if self.built is None else self.built.body


def test_manifest_sources_count_the_objects_that_name_a_peer_and_keep_no_signature() -> None:
    files = [
        File(key="t1/360p/seg_0001.ts", size=1, sha256=SHA),
        File(key="t1/480p/seg_0002.ts", size=1, sha256=SHA),
    ]
    peer = "https://10.89.41.11/t1/360p/seg_0001.ts?md5=s"
    built = manifest_of(
        files,
        lambda f: [peer, "http://moto/o?X-Sig=1"] if "360p" in f.key else ["http://moto/o"],
        version="m9",
    )
    found = manifest_sources(_Manifests(built), "ams1-b", {"10.89.41.11"})  # type: ignore[arg-type]
    assert (found.manifest_version, found.objects, found.objects_with_peer_source) == ("m9", 2, 1)
    assert found.source_hosts == ["10.89.41.11", "origin"]
    assert "md5=" not in found.model_dump_json() and "Sig" not in found.model_dump_json()


def test_no_manifest_yet_names_nothing() -> None:
    found = manifest_sources(_Manifests(None), "ams1-b", {"10.89.41.11"})  # type: ignore[arg-type]
    assert found == MemberTrace(appliance_id="ams1-b")


def test_the_trace_round_trips_through_the_state_dir(tmp_path: Path) -> None:
    trace = FillTrace()
    assert FillTrace.load(tmp_path) is None
    trace.rounds.append(
        RoundTrace(number=2, members=[MemberTrace(appliance_id="ams1-b", objects=3)])
    )
    trace.save(tmp_path)
    loaded = FillTrace.load(tmp_path)
    assert loaded is not None and loaded.member("ams1-b") == MemberTrace(
        appliance_id="ams1-b", objects=3
    )
    assert loaded.member("fra1-a") is None


@pytest.mark.parametrize("hour", range(24))
def test_the_shut_window_is_hours_away_from_now(hour: int) -> None:
    now = datetime(2026, 12, 4, hour, 30, tzinfo=UTC)
    window = shut_fill_window("Europe/Amsterdam", now=now)
    local_hour = (hour + 1) % 24  # CET in December
    start = int(window["start"][:2])
    assert min((start - local_hour) % 24, (local_hour - start) % 24) >= 11
    assert window["end"] == f"{start:02d}:01" and window["timezone"] == "Europe/Amsterdam"
