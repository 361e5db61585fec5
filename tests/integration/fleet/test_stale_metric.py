"""The stale-fleet metric: the health sweep counts registered appliances that stopped
heartbeating and puts the count in CloudWatch (moto), where the stack's alarm reads it."""

from __future__ import annotations

from datetime import timedelta

import boto3

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.health_sweep import sweep
from control_plane.fleet.metric_names import (
    FLEET_METRIC_NAMESPACE,
    STACK_DIMENSION,
    STALE_APPLIANCES_METRIC,
)
from control_plane.fleet.stale_metric import publish_stale_count
from tests.integration.fleet.support import FleetHarness


def _published(settings: ServiceSettings, fleet: FleetHarness) -> list[float]:
    cloudwatch = boto3.client(
        "cloudwatch", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    stats = cloudwatch.get_metric_statistics(
        Namespace=FLEET_METRIC_NAMESPACE,
        MetricName=STALE_APPLIANCES_METRIC,
        Dimensions=[{"Name": STACK_DIMENSION, "Value": settings.name_prefix}],
        StartTime=fleet.clock.now - timedelta(hours=1),
        EndTime=fleet.clock.now + timedelta(hours=1),
        Period=60,
        Statistics=["Maximum"],
    )
    points = sorted(stats["Datapoints"], key=lambda p: p["Timestamp"])
    return [p["Maximum"] for p in points]


def test_only_registered_appliances_that_went_silent_count(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("ams-1-c1", "ams-1")
    for appliance_id in ("talks", "silent", "never-beat", "declared-only"):
        fleet.put_appliance(appliance_id, site_id="ams-1", cluster_id="ams-1-c1")
    auth = {a: fleet.register(a) for a in ("talks", "silent", "never-beat")}
    fleet.heartbeat("talks", auth["talks"])
    fleet.heartbeat("silent", auth["silent"])
    first = sweep(context=fleet.context, now=fleet.clock.now)
    # Just registered and not one heartbeat yet: not stale before K intervals have passed.
    assert first["stale"] == []

    # 3 intervals (the policy's K) of silence: "silent" is stale, "talks" kept talking.
    for _ in range(3):
        fleet.clock.advance(15)
        fleet.heartbeat("talks", auth["talks"])
    second = sweep(context=fleet.context, now=fleet.clock.now)
    # Declared only ("declared-only") is not in service yet, so never stale.
    assert second["stale"] == ["never-beat", "silent"]
    assert second["published"] is True
    assert _published(fleet.settings, fleet) == [2.0]


def test_retired_appliances_are_not_stale(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_appliance("old", site_id="ams-1", cluster_id="ams-1-c1")
    fleet.register("old")
    retired = fleet.client.post(
        "/fleet/v1/admin/appliances/old/retire",
        json={"reason": "eol", "force": True},
        headers=fleet.admin,
    )
    assert retired.status_code == 200, retired.text
    assert sweep(context=fleet.context, now=fleet.clock.now)["stale"] == []


def test_a_cloudwatch_outage_is_reported_not_raised(fleet: FleetHarness) -> None:
    # Nothing listens on this port: the publish fails, the sweep's own work is not undone.
    unreachable = fleet.settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    assert publish_stale_count(unreachable, 3, now=fleet.clock.now) is False


def test_a_drained_appliance_switched_off_for_maintenance_is_not_stale(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_appliance("maint", site_id="ams-1", cluster_id="ams-1-c1")
    auth = fleet.register("maint")
    fleet.heartbeat("maint", auth)
    admin = "/fleet/v1/admin/appliances/maint"
    fleet.client.post(f"{admin}/drain", json={"reason": "disk swap"}, headers=fleet.admin)
    fleet.heartbeat("maint", auth, state="Drained")
    assert fleet.client.get(admin, headers=fleet.admin).json()["state"] == "Drained"
    fleet.clock.advance(600)  # switched off
    assert sweep(context=fleet.context, now=fleet.clock.now)["stale"] == []
    fleet.client.post(f"{admin}/undrain", json={"reason": "back"}, headers=fleet.admin)
    assert sweep(context=fleet.context, now=fleet.clock.now)["stale"] == ["maint"]
