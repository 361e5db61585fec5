"""The scheduled manifest job end to end: catalog table in, presigned origin sources out."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from control_plane.catalog.models import MaturityRating, MediaFile, Rendition, Title
from control_plane.catalog.store import CatalogStore
from control_plane.placement import manifest_job
from control_plane.placement.catalog_source import units_from_catalog
from control_plane.placement.manifest_job import write_due_manifests
from edgefill_contracts.manifest import Manifest
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


def test_the_scheduled_job_writes_manifests_with_presigned_origin_urls(fleet: FleetHarness) -> None:
    _seed_catalog(fleet, 3)
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=10_000)
    auth = fleet.register("a1")

    result = manifest_job.run(fleet.settings)
    assert result["written"] == 1
    manifest = Manifest.model_validate_json(
        fleet.client.get("/fleet/v1/appliances/a1/manifest", headers=auth).content
    )
    assert len(manifest.objects) == 6
    origin = str(manifest.objects[0].sources[-1])
    assert origin.startswith(f"{fleet.settings.aws_endpoint_url}/{fleet.settings.origin_bucket}/")
    assert "X-Amz-Signature=" in origin


def test_sites_are_due_only_shortly_before_their_window(fleet: FleetHarness) -> None:
    _seed_catalog(fleet, 1)
    fleet.put_site("ams-1")  # window 02:00-14:00 UTC
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=10_000)
    units = list(units_from_catalog(fleet.settings))

    def origin(*, key: str, expires_at: datetime) -> str:
        return f"https://origin.example/{key}"

    first = write_due_manifests(
        context=fleet.context,
        units=units,
        origin=origin,
        now=datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
    )
    assert first["sites"] == ["ams-1"], "an appliance without a manifest is always due"
    _seed_catalog(fleet, 2)
    units = list(units_from_catalog(fleet.settings))
    afternoon = write_due_manifests(
        context=fleet.context,
        units=units,
        origin=origin,
        now=datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
    )
    assert afternoon == {"written": 0, "unchanged": 0, "sites": []}
    night = write_due_manifests(
        context=fleet.context,
        units=units,
        origin=origin,
        now=datetime(2026, 3, 2, 2, 0, tzinfo=UTC) - timedelta(hours=1),
    )
    assert night == {"written": 1, "unchanged": 0, "sites": ["ams-1"]}
