"""The manifest job fans out per cluster: one order per due cluster, each written by a worker
that reads only its cluster's and ISP's appliances; a failed cluster fails alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from control_plane.common.aws import sqs
from control_plane.common.fan_out import FanOutError, dispatch
from control_plane.lambda_entry import fan_out_queue_name
from control_plane.manifests.builder import FillMember
from control_plane.placement.manifest_job import (
    MANIFEST_FAN_OUT,
    MAX_TIER_PEERS,
    ClusterOrder,
    ClusterWork,
    _isp_member_ids,
    placement_inputs,
    plan_clusters,
    run_cluster,
    write_cluster,
)
from control_plane.placement.spec import SERVICE as PLACEMENT
from edgefill_contracts.fill_window import FillWindow
from tests.integration.fleet.support import FleetHarness
from tests.integration.fleet.test_fleet_manifests import _units
from tests.support.playback_world import put_titles


def _two_sites(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_site("rtm-1", prefixes=["203.0.113.0/24"])
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_cluster("rtm-1-c1", "rtm-1")
    for appliance_id, site in (("a1", "ams-1"), ("a2", "ams-1"), ("b1", "rtm-1")):
        fleet.put_appliance(appliance_id, site_id=site, cluster_id=f"{site}-c1", budget=10**6)
        fleet.register(appliance_id)


def test_the_spec_declares_the_queue_the_job_sends_to() -> None:
    assert [f.name for f in PLACEMENT.fan_outs] == [MANIFEST_FAN_OUT]
    assert PLACEMENT.fan_outs[0].handler == "control_plane.placement.manifest_job:run_cluster"


def test_the_plan_queues_one_order_per_due_cluster_and_workers_write_them(
    fleet: FleetHarness,
) -> None:
    _two_sites(fleet)
    put_titles(fleet.settings, 3)
    client = sqs(fleet.settings)
    name = fan_out_queue_name(fleet.settings.name_prefix, "placement", MANIFEST_FAN_OUT)
    url = client.get_queue_url(QueueName=name)["QueueUrl"]
    settings = fleet.settings.model_copy(update={"fan_out_queues": {MANIFEST_FAN_OUT: url}})

    def not_here(order: object) -> object:
        raise AssertionError("with a queue, orders are sent, not handled in the job")

    orders = plan_clusters(context=fleet.context, now=fleet.clock.now)
    done = dispatch(settings, queue=MANIFEST_FAN_OUT, messages=orders, handle=not_here)
    assert (done.queued, done.handled) == (2, 0)
    received = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted((json.loads(m["Body"]) for m in received), key=lambda b: b["cluster_id"])
    assert [b["cluster_id"] for b in bodies] == ["ams-1-c1", "rtm-1-c1"]
    assert sorted(bodies[0]["member_ids"]) == ["a1", "a2"]
    assert sorted(bodies[0]["isp_member_ids"]) == ["a1", "a2", "b1"], "peers across the ISP"

    for body in bodies:
        result = run_cluster(settings, body)
        assert result["cluster"] == body["cluster_id"]
    for appliance_id in ("a1", "a2", "b1"):
        assert fleet.context.manifests.latest(appliance_id) is not None, appliance_id
    again = run_cluster(settings, bodies[0])
    assert again["written"] == 0, "a redelivered order rewrites nothing"


def test_a_worker_reads_its_appliances_by_key_and_never_scans(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_sites(fleet)
    orders = plan_clusters(context=fleet.context, now=fleet.clock.now)
    inputs = placement_inputs(context=fleet.context, units=_units(4), now=fleet.clock.now)
    asked: list[list[str]] = []
    get_many = fleet.context.store.appliances.get_many

    def counted(keys: Any) -> Any:
        asked.append(sorted(k["appliance_id"] for k in keys))
        return get_many(keys)

    def no_scan() -> Any:
        raise AssertionError("a worker must not scan the fleet")

    monkeypatch.setattr(fleet.context.store.appliances, "get_many", counted)
    monkeypatch.setattr(fleet.context.store.appliances, "scan", no_scan)
    monkeypatch.setattr(fleet.context.store.health, "scan", no_scan)
    rtm = next(o for o in orders if o.cluster_id == "rtm-1-c1")
    written = write_cluster(context=fleet.context, order=rtm, inputs=inputs)
    assert written.written == 1
    assert asked == [["a1", "a2", "b1"]]


def test_one_failing_cluster_is_recorded_and_the_others_are_written(fleet: FleetHarness) -> None:
    _two_sites(fleet)
    orders = plan_clusters(context=fleet.context, now=fleet.clock.now)
    inputs = placement_inputs(context=fleet.context, units=_units(4), now=fleet.clock.now)

    def handle(order: object) -> object:
        assert isinstance(order, ClusterOrder)
        if order.cluster_id == "ams-1-c1":
            raise RuntimeError("S3 throttled this cluster's writes")
        return write_cluster(context=fleet.context, order=order, inputs=inputs)

    done = dispatch(fleet.settings, queue=MANIFEST_FAN_OUT, messages=orders, handle=handle)
    assert done.failed == {"ams-1-c1": "RuntimeError: S3 throttled this cluster's writes"}
    assert done.handled == 1
    assert fleet.context.manifests.latest("b1") is not None
    assert fleet.context.manifests.latest("a1") is None


def test_an_order_over_the_message_limit_or_a_missing_queue_is_a_clear_error(
    fleet: FleetHarness,
) -> None:
    _two_sites(fleet)
    order = plan_clusters(context=fleet.context, now=fleet.clock.now)[0]
    huge = order.model_copy(update={"isp_member_ids": [f"appliance-{n:06d}" for n in range(20000)]})
    handled: list[object] = []
    with pytest.raises(FanOutError, match="over SQS's 262144"):
        dispatch(
            fleet.settings, queue=MANIFEST_FAN_OUT, messages=[order, huge], handle=handled.append
        )
    assert handled == [], "nothing is handed out when one message cannot be"
    gone = fleet.settings.model_copy(
        update={"fan_out_queues": {MANIFEST_FAN_OUT: "http://localhost:1/000000000000/nope"}}
    )
    with pytest.raises(FanOutError, match="could not send"):
        dispatch(gone, queue=MANIFEST_FAN_OUT, messages=[order], handle=handled.append)


def _member(appliance_id: str, cluster_id: str) -> FillMember:
    return FillMember(
        appliance_id=appliance_id,
        cluster_id=cluster_id,
        base_url=f"https://{appliance_id}.example.net",
        byte_budget=10**12,
        held_units=frozenset(),
        accepted_secret_ids=frozenset(),
        can_serve_fills=True,
    )


def test_an_order_names_a_bounded_sample_of_its_isps_peers_the_same_every_run() -> None:
    own = [_member(f"c0-a{n}", "c0") for n in range(5)]
    isp = own + [_member(f"c{c}-a{n}", f"c{c}") for c in range(1, 401) for n in range(5)]

    def work(cluster_id: str, members: list[FillMember]) -> ClusterWork:
        window = FillWindow()
        return ClusterWork(
            site_id="s",
            cluster_id=cluster_id,
            members=members,
            isp_members=isp,
            writable=frozenset(),
            fill_window=window,
            fill_opens=datetime(2026, 1, 1, tzinfo=UTC),
            fill_closes=datetime(2026, 1, 1, 4, tzinfo=UTC),
        )

    ids = _isp_member_ids(work("c0", own))
    assert ids[:5] == [m.appliance_id for m in own], "the cluster's own members first"
    assert len(ids) == 5 + MAX_TIER_PEERS and len(set(ids)) == len(ids)
    assert not any(i.startswith("c0-") for i in ids[5:])
    assert _isp_member_ids(work("c0", own)) == ids, "the same sample every run"
    other = _isp_member_ids(work("c1", isp[5:10]))
    assert set(other[5:]) != set(ids[5:]), "clusters spread over the ISP"


def test_messages_sqs_refuses_in_a_batch_fail_the_job_by_name(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_sites(fleet)
    orders = plan_clusters(context=fleet.context, now=fleet.clock.now)

    class Refusing:
        def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
            return {
                "Successful": [{"Id": "0"}],
                "Failed": [{"Id": "1", "Code": "KMS.ThrottlingException", "Message": "slow"}],
            }

    monkeypatch.setattr("control_plane.common.fan_out.sqs", lambda settings: Refusing())
    queued = fleet.settings.model_copy(update={"fan_out_queues": {MANIFEST_FAN_OUT: "https://q"}})
    with pytest.raises(FanOutError, match=r"refused the messages for \['rtm-1-c1'\]"):
        dispatch(queued, queue=MANIFEST_FAN_OUT, messages=orders, handle=lambda o: None)


def test_a_message_that_is_not_an_order_fails_for_sqs_to_dead_letter(fleet: FleetHarness) -> None:
    with pytest.raises(ValueError, match="cluster_id"):
        run_cluster(fleet.settings, {"site_id": "ams-1"})
