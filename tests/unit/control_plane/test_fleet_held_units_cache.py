"""HeldUnitsCache: a manifest read once per applied version, a bitmap decoded once while it does
not change, and one entry per appliance however many versions it goes through."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.fleet.health import HealthRecord
from control_plane.fleet.snapshot import HeldUnitsCache
from control_plane.manifests.store import ManifestStore
from edgefill_contracts import Manifest
from edgefill_contracts.heartbeat import (
    ApplianceState,
    DiskUsage,
    FillProgress,
    Heartbeat,
    HeldDigest,
    ServingCounters,
)
from edgefill_contracts.holdings import encode_held_units, unit_order
from tests.support.manifests import File, manifest_of

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def manifest(version: str, titles: int) -> Manifest:
    files = [File(key=f"t{n}/720p/stream.mp4", size=1, sha256="a" * 64) for n in range(titles)]
    return manifest_of(files, version=version, byte_budget=10**9).manifest


class CountingManifests:
    """The one ManifestStore call the cache makes (a written manifest's unit order), counted."""

    def __init__(self, *manifests: Manifest) -> None:
        self._by_version = {m.version: unit_order(m) for m in manifests}
        self.reads: list[str] = []

    def unit_order(self, appliance_id: str, version: str) -> tuple[str, ...] | None:
        self.reads.append(version)
        return self._by_version.get(version)


def record(held: HeldDigest) -> HealthRecord:
    heartbeat = Heartbeat(
        appliance_id="a1",
        agent_version="1",
        sent_at=NOW,
        state=ApplianceState.SERVING,
        disk=DiskUsage(total_bytes=1, used_bytes=0, free_bytes=1),
        held=held,
        serving=ServingCounters(),
        fill=FillProgress(),
    )
    return HealthRecord(appliance_id="a1", last_heartbeat=heartbeat)


def held(listed: Manifest, units: set[str]) -> HeldDigest:
    return HeldDigest(
        manifest_version=listed.version,
        held_units=encode_held_units(unit_order(listed), units),
    )


def test_each_version_is_read_once_and_a_new_one_replaces_the_old() -> None:
    v1, v2 = manifest("v1", 3), manifest("v2", 4)
    store = CountingManifests(v1, v2)
    cache = HeldUnitsCache()
    units_for = cache.units_for  # the store is duck-typed: the one method it calls

    first = units_for(store, record(held(v1, {"t0/720p"})))  # type: ignore[arg-type]
    again = units_for(store, record(held(v1, {"t0/720p"})))  # type: ignore[arg-type]
    assert first == again == {"t0/720p"}
    assert store.reads == ["v1"]

    newer = units_for(store, record(held(v2, {"t3/720p", "t1/720p"})))  # type: ignore[arg-type]
    assert newer == {"t1/720p", "t3/720p"}
    assert store.reads == ["v1", "v2"]
    assert len(cache._orders) == len(cache._decoded) == 1, "one entry per appliance"


def test_a_manifest_missing_from_s3_holds_nothing() -> None:
    cache = HeldUnitsCache()
    gone = manifest("v9", 2)
    store: ManifestStore = CountingManifests()  # type: ignore[assignment]
    assert cache.units_for(store, record(held(gone, {"t0/720p"}))) == frozenset()
