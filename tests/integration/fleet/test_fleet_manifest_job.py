"""The scheduled manifest job end to end: catalog table in, presigned origin sources out."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from control_plane.catalog.models import MaturityRating, MediaFile, Rendition, Title
from control_plane.catalog.store import CatalogStore
from control_plane.catalog.units import units_from_catalog
from control_plane.manifests.store import ManifestStore
from control_plane.placement import manifest_job
from control_plane.placement.errors import ManifestJobIncomplete
from control_plane.placement.manifest_job import write_due_manifests
from edgefill_contracts.manifest import Manifest, decode_manifest
from tests.integration.fleet.support import FleetHarness


def _seed_catalog(fleet: FleetHarness, titles: int) -> None:
    store = CatalogStore.from_settings(fleet.settings)
    for t in range(titles):
        title_id = f"title-{t:03d}"
        files = tuple(
            MediaFile(
                key=f"{title_id}/720p/{name}",
                size=500,
                sha256=hashlib.sha256(f"{title_id}{name}".encode()).hexdigest(),
            )
            for name in ("index.m3u8", "seg_00001.ts")
        )
        store.put(
            Title(
                title_id=title_id,
                name=f"Title {t}",
                year=2020,
                maturity=MaturityRating.PG,
                popularity=1.0,
                renditions=(
                    Rendition(
                        name="720p",
                        bandwidth=1_000_000,
                        playlist=f"{title_id}/720p/index.m3u8",
                        files=files,
                    ),
                ),
            )
        )


def test_units_come_from_the_catalog(fleet: FleetHarness) -> None:
    _seed_catalog(fleet, 2)
    units = sorted(units_from_catalog(fleet.settings), key=lambda u: u.unit_id)
    assert [u.unit_id for u in units] == ["title-000/720p", "title-001/720p"]
    assert [f.key for f in units[0].files] == [
        "title-000/720p/index.m3u8",
        "title-000/720p/seg_00001.ts",
    ]
    assert units[0].size == 1000


def test_the_scheduled_job_writes_manifests_naming_the_origin_once(fleet: FleetHarness) -> None:
    _seed_catalog(fleet, 3)
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=10_000)
    auth = fleet.register("a1")

    result = manifest_job.run(fleet.settings)
    assert result["written"] == 1
    manifest = fleet.manifest("a1", auth)
    assert manifest.header.file_count == 6
    # No peer holds anything yet: the one source is the origin, with no URL (the fleet API
    # presigns origin URLs per batch of keys at fill time).
    assert [s.model_dump() for s in manifest.header.sources] == [
        {"name": "origin", "kind": "origin", "base_url": None, "secret_id": None, "query": None}
    ]
    assert all(entry.sources == (0,) for entry in manifest.entries())


def test_manifests_do_not_change_during_a_fill_and_renew_for_each_window(
    fleet: FleetHarness,
) -> None:
    _seed_catalog(fleet, 1)
    fleet.put_site("ams-1")  # window 02:00-14:00 UTC
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=10_000)

    def job(at: datetime) -> dict[str, object]:
        units = list(units_from_catalog(fleet.settings))
        return write_due_manifests(context=fleet.context, units=units, now=at)

    evening = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert job(evening) == {"written": 1, "unchanged": 0, "sites": ["ams-1"], "failed": {}}
    assert job(evening + timedelta(hours=1)) == {
        "written": 0,
        "unchanged": 1,
        "sites": ["ams-1"],
        "failed": {},
    }
    _seed_catalog(fleet, 2)
    assert job(evening + timedelta(hours=2)) == {
        "written": 1,
        "unchanged": 0,
        "sites": ["ams-1"],
        "failed": {},
    }
    before = fleet.context.manifests.latest("a1")
    assert before is not None
    body = fleet.context.manifests.body("a1", before.version)
    assert body is not None
    manifest = decode_manifest(body)
    assert manifest.header.sources_expire_at == int(
        datetime(2026, 3, 2, 15, 0, tzinfo=UTC).timestamp()
    ), "signed sources last through the coming window plus an hour"

    _seed_catalog(fleet, 3)
    during = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert job(during) == {"written": 0, "unchanged": 0, "sites": [], "failed": {}}, (
        "no change mid-fill"
    )
    fleet.put_appliance("a2", site_id="ams-1", cluster_id="c1", budget=10_000)
    joined = job(during)
    assert joined == {"written": 1, "unchanged": 0, "sites": ["ams-1"], "failed": {}}, (
        "only the newcomer"
    )
    assert fleet.context.manifests.latest_version("a1") == before.version
    after = job(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    assert after == {"written": 2, "unchanged": 0, "sites": ["ams-1"], "failed": {}}
    latest = fleet.context.manifests.latest("a1")
    assert latest is not None and latest.version != before.version


def test_one_failing_cluster_is_recorded_and_stops_no_other(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed_catalog(fleet, 2)
    for n, site in enumerate(("ams-1", "bru-1", "cdg-1")):
        fleet.put_site(site, prefixes=[f"198.51.{100 + n}.0/24"])
        fleet.put_cluster(f"{site}-c1", site)
        fleet.put_appliance(f"{site}-a", site_id=site, cluster_id=f"{site}-c1", budget=10_000)
    real_write = ManifestStore.write

    def write(store: ManifestStore, manifest: Manifest, *, now: datetime) -> bool:
        if manifest.appliance_id == "bru-1-a":  # the middle site: clusters after it matter
            raise RuntimeError("S3 throttled this prefix")
        return real_write(store, manifest, now=now)

    monkeypatch.setattr(ManifestStore, "write", write)

    with pytest.raises(ManifestJobIncomplete) as raised:
        manifest_job.run(fleet.settings)

    assert raised.value.failed == {"bru-1-c1": "RuntimeError: S3 throttled this prefix"}
    assert "bru-1-c1: RuntimeError: S3 throttled this prefix" in raised.value.message
    assert "2 manifests" in raised.value.message
    assert fleet.context.manifests.latest_version("ams-1-a") is not None
    assert fleet.context.manifests.latest_version("cdg-1-a") is not None, "after the failure"
    assert fleet.context.manifests.latest_version("bru-1-a") is None

    # The retry (Lambda's, or the next run) writes only what is still missing (the others are
    # unchanged, or, inside the fill window by the wall clock, left alone).
    monkeypatch.setattr(ManifestStore, "write", real_write)
    again = manifest_job.run(fleet.settings)
    assert (again["written"], again["failed"]) == (1, {})
    assert fleet.context.manifests.latest_version("bru-1-a") is not None
