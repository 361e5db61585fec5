"""The manifest job against moto: placement onto a cluster, ranked sources, ETag serving."""

from __future__ import annotations

import hashlib
from datetime import datetime

from control_plane.catalog.units import CatalogUnit, UnitFile
from control_plane.placement.manifest_job import write_due_manifests
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.manifest import Manifest
from tests.integration.fleet.support import FleetHarness


def _units(count: int) -> list[CatalogUnit]:
    units = []
    for i in range(count):
        files = tuple(
            UnitFile(
                key=f"title-{i:03d}/720p/{name}",
                size=1000,
                sha256=hashlib.sha256(f"{i}{name}".encode()).hexdigest(),
            )
            for name in ("index.m3u8", "seg_00001.ts")
        )
        units.append(CatalogUnit(unit_id=f"title-{i:03d}/720p", files=files))
    return units


def _origin(*, key: str, expires_at: datetime) -> str:
    return f"https://origin.example.net/{key}?expires={int(expires_at.timestamp())}"


def _build_fleet(fleet: FleetHarness) -> dict[str, dict[str, str]]:
    fleet.put_site("ams-1", isp="isp-a", prefixes=["198.51.100.0/24"])
    fleet.put_site("rtm-1", isp="isp-a", prefixes=["203.0.113.0/24"])
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_cluster("rtm-1-c1", "rtm-1")
    auths = {}
    for appliance_id, site, cluster in (
        ("ams-a", "ams-1", "ams-1-c1"),
        ("ams-b", "ams-1", "ams-1-c1"),
        ("rtm-a", "rtm-1", "rtm-1-c1"),
    ):
        fleet.put_appliance(appliance_id, site_id=site, cluster_id=cluster, budget=20_000)
        auths[appliance_id] = fleet.register(appliance_id)
    return auths


def test_manifests_are_written_served_with_etag_and_304(fleet: FleetHarness) -> None:
    auths = _build_fleet(fleet)
    result = write_due_manifests(
        context=fleet.context, units=_units(12), origin=_origin, now=fleet.clock.now
    )
    assert result["written"] == 3

    response = fleet.client.get("/fleet/v1/appliances/ams-a/manifest", headers=auths["ams-a"])
    assert response.status_code == 200
    manifest = Manifest.model_validate_json(response.content)
    assert response.headers["ETag"] == f'"{manifest.version}"'
    assert manifest.total_bytes <= 20_000
    assert all(
        str(obj.sources[-1]).startswith("https://origin.example.net/") for obj in manifest.objects
    )

    cached = fleet.client.get(
        "/fleet/v1/appliances/ams-a/manifest",
        headers={**auths["ams-a"], "If-None-Match": response.headers["ETag"]},
    )
    assert cached.status_code == 304
    stale = fleet.client.get(
        "/fleet/v1/appliances/ams-a/manifest",
        headers={**auths["ams-a"], "If-None-Match": '"m0000"'},
    )
    assert stale.status_code == 200

    again = write_due_manifests(
        context=fleet.context, units=_units(12), origin=_origin, now=fleet.clock.now, force=True
    )
    assert again == {"written": 0, "unchanged": 3, "sites": ["ams-1", "rtm-1"], "failed": {}}


def test_sources_rank_cluster_peers_then_other_clusters_then_origin(fleet: FleetHarness) -> None:
    auths = _build_fleet(fleet)
    units = _units(12)
    write_due_manifests(context=fleet.context, units=units, origin=_origin, now=fleet.clock.now)
    # Every appliance applies its manifest and reports holding all of it, twice (healthy).
    applied = {}
    for appliance_id, auth in auths.items():
        body = fleet.client.get(f"/fleet/v1/appliances/{appliance_id}/manifest", headers=auth)
        applied[appliance_id] = Manifest.model_validate_json(body.content)
    secret_ids = fleet.heartbeat("ams-a", auths["ams-a"])["signing_secret_ids"]
    for _ in range(2):
        fleet.clock.advance(10)
        for appliance_id, auth in auths.items():
            fleet.heartbeat(
                appliance_id,
                auth,
                held=HeldDigest(manifest_version=applied[appliance_id].version),
                accepted_secret_ids=secret_ids,
            )

    # A new appliance joins ams-1's cluster: its sources are peers first, then rtm-a, then origin.
    fleet.put_appliance("ams-c", site_id="ams-1", cluster_id="ams-1-c1", budget=20_000)
    new_auth = fleet.register("ams-c")
    write_due_manifests(context=fleet.context, units=units, origin=_origin, now=fleet.clock.now)
    body = fleet.client.get("/fleet/v1/appliances/ams-c/manifest", headers=new_auth)
    manifest = Manifest.model_validate_json(body.content)
    assert manifest.objects, "the new appliance got nothing placed on it"
    held_by = {
        appliance_id: {"/".join(o.key.split("/")[:2]) for o in m.objects}
        for appliance_id, m in applied.items()
    }
    for obj in manifest.objects:
        unit = "/".join(obj.key.split("/")[:2])
        hosts = [str(url).split("/")[2].split(".")[0] for url in obj.sources]
        expected_peers = sorted(a for a in ("ams-a", "ams-b") if unit in held_by[a])
        expected_tier = ["rtm-a"] if unit in held_by["rtm-a"] else []
        assert sorted(hosts[: len(expected_peers)]) == expected_peers
        assert hosts[len(expected_peers) : -1] == expected_tier
        assert hosts[-1] == "origin"
        for url in obj.sources[:-1]:
            assert f"/t/{secret_ids[0]}/" in str(url)
