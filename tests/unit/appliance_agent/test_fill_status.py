"""The fill's status recorder: progress and holdings in the status file, through the observer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance_agent import fill_status
from appliance_agent.fill import FillReport, ObserverGroup, SilentObserver
from appliance_agent.fill_status import FillStatusRecorder
from appliance_agent.status import Activity, StatusFile
from appliance_agent.store import Store
from edgefill_contracts import Manifest
from tests.support.manifests import File, manifest_of


def _manifest() -> Manifest:
    files = [File(key=f"t{n}/720p/stream.mp4", size=10, sha256="a" * 64) for n in range(3)]
    return manifest_of(files, version="v9", byte_budget=10**9).manifest


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store")
    yield store
    store.close()


def test_a_fill_is_recorded_from_start_to_end(tmp_path: Path, store: Store) -> None:
    status = StatusFile(tmp_path)
    recorder = FillStatusRecorder(status=status, store=store, manifest=_manifest())
    report = FillReport(manifest_version="v9", objects_missing_at_start=3)

    recorder.started(objects=3, total_bytes=30, report=report)
    started = status.read()
    assert started.activity is Activity.FILLING and started.fill.running
    assert (started.manifest_version, started.missing_count) == ("v9", 3)

    store.index.put(key="t0/720p/stream.mp4", size=10, sha256="a" * 64)
    recorder.advanced(10)
    report.objects_fetched, report.bytes_from_origin = 1, 10
    recorder.finished(report)

    done = status.read()
    assert done.activity is Activity.IDLE and not done.fill.running
    assert (done.fill.bytes_done, done.fill.bytes_total, done.fill.bytes_from_origin) == (
        10,
        30,
        10,
    )
    assert (done.objects_held, done.missing_count, done.fill.last_result) == (1, 2, "ok")
    assert done.held_units is not None


class _FakeTime:
    """Stands in for the module's `time`: monotonic() reads a list the test moves on."""

    def __init__(self, now: list[float]) -> None:
        self._now = now

    def monotonic(self) -> float:
        return self._now[0]


def test_progress_is_written_at_most_once_a_second(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = StatusFile(tmp_path)
    recorder = FillStatusRecorder(status=status, store=store, manifest=_manifest())
    report = FillReport(manifest_version="v9", objects_missing_at_start=3)
    recorder.started(objects=3, total_bytes=30, report=report)
    now = [1000.0]
    monkeypatch.setattr(fill_status, "time", _FakeTime(now))

    report.objects_fetched = 1
    recorder.object_finished("t0/720p/stream.mp4", ok=True, report=report)
    assert status.read().fill.objects_done == 1
    report.objects_fetched = 2
    now[0] += 0.5
    recorder.object_finished("t1/720p/stream.mp4", ok=True, report=report)
    assert status.read().fill.objects_done == 1, "within the second: not written"
    now[0] += 0.6
    recorder.object_finished("t2/720p/stream.mp4", ok=True, report=report)
    assert status.read().fill.objects_done == 2


def test_a_skipped_fill_writes_nothing(tmp_path: Path, store: Store) -> None:
    status = StatusFile(tmp_path)
    recorder = FillStatusRecorder(status=status, store=store, manifest=_manifest())
    report = FillReport(manifest_version="v9", skipped=True)
    recorder.started(objects=0, total_bytes=0, report=report)
    recorder.finished(report)
    assert not (tmp_path / "status.json").exists()


def test_an_observer_group_tells_every_member_in_order() -> None:
    seen: list[str] = []

    class Named(SilentObserver):
        def __init__(self, name: str) -> None:
            self.name = name

        def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None:
            seen.append(f"{self.name}:{key}:{ok}")

    ObserverGroup([Named("status"), Named("progress")]).object_finished(
        "t/a", ok=False, report=FillReport(manifest_version="v1")
    )
    assert seen == ["status:t/a:False", "progress:t/a:False"]
