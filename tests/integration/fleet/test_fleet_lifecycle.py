"""An appliance's life through the fleet API: register, heartbeat, drain, retire, refused after."""

from __future__ import annotations

from tests.integration.fleet.support import FleetHarness


def _setup(fleet: FleetHarness, appliance_id: str = "app-1") -> dict[str, str]:
    fleet.put_site("ams-1")
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_appliance(appliance_id, site_id="ams-1", cluster_id="ams-1-c1")
    return fleet.register(appliance_id)


def test_register_heartbeat_drain_retire_and_refuse(fleet: FleetHarness) -> None:
    auth = _setup(fleet)
    ack = fleet.heartbeat("app-1", auth)
    assert ack["desired_state"] == "Serving"
    assert len(ack["signing_secret_ids"]) == 1

    drained = fleet.client.post(
        "/fleet/v1/admin/appliances/app-1/drain", json={"reason": "upgrade"}, headers=fleet.admin
    )
    assert drained.json()["state"] == "Draining"
    fleet.clock.advance(10)
    assert fleet.heartbeat("app-1", auth)["desired_state"] == "Draining"

    early = fleet.client.post(
        "/fleet/v1/admin/appliances/app-1/retire", json={"reason": "eol"}, headers=fleet.admin
    )
    assert early.status_code == 409
    assert "drain it and wait for Drained" in early.json()["message"]

    fleet.clock.advance(10)
    assert fleet.heartbeat("app-1", auth, state="Drained")["desired_state"] == "Drained"
    retired = fleet.client.post(
        "/fleet/v1/admin/appliances/app-1/retire", json={"reason": "eol"}, headers=fleet.admin
    )
    assert retired.status_code == 200
    assert retired.json()["lifecycle"] == "retired"

    refused = fleet.client.post("/fleet/v1/appliances/app-1/heartbeat", json={}, headers=auth)
    assert refused.status_code == 401

    audit = fleet.client.get("/fleet/v1/admin/appliances/app-1/audit", headers=fleet.admin).json()
    actions = [entry["action"] for entry in reversed(audit)]
    assert actions == ["register", "drain", "healthy", "drained", "retire"]
    by_action = {entry["action"]: entry for entry in audit}
    assert by_action["drain"]["actor"] == "admin"
    assert by_action["drain"]["reason"] == "upgrade"
    assert by_action["drained"]["actor"] == "appliance"
    assert (by_action["retire"]["from_state"], by_action["retire"]["to_state"]) == (
        "Drained",
        "Drained",
    )


def test_revoked_credential_is_refused_and_reregistration_issues_a_new_one(
    fleet: FleetHarness,
) -> None:
    auth = _setup(fleet)
    fleet.heartbeat("app-1", auth)
    revoked = fleet.client.post(
        "/fleet/v1/admin/appliances/app-1/revoke", json={"reason": "lost disk"}, headers=fleet.admin
    )
    assert revoked.status_code == 200
    response = fleet.client.get("/fleet/v1/appliances/app-1/signing-secrets", headers=auth)
    assert response.status_code == 401
    assert "register again" in response.json()["message"]

    new_auth = fleet.register("app-1")
    assert new_auth != auth
    assert (
        fleet.client.get("/fleet/v1/appliances/app-1/signing-secrets", headers=new_auth).status_code
        == 200
    )


def test_bootstrap_token_works_once(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_appliance("app-1", site_id="ams-1", cluster_id="ams-1-c1")
    token = fleet.client.post(
        "/fleet/v1/admin/appliances/app-1/bootstrap-token", headers=fleet.admin
    ).json()["bootstrap_token"]
    body = {"appliance_id": "app-1", "bootstrap_token": token, "agent_version": "1.0"}
    assert fleet.client.post("/fleet/v1/register", json=body).status_code == 200
    again = fleet.client.post("/fleet/v1/register", json=body)
    assert again.status_code == 401
    assert "unknown, used or expired" in again.json()["message"]


def test_expired_and_wrong_bootstrap_tokens_are_refused(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_appliance("app-1", site_id="ams-1", cluster_id="ams-1-c1")
    token = fleet.client.post(
        "/fleet/v1/admin/appliances/app-1/bootstrap-token", headers=fleet.admin
    ).json()["bootstrap_token"]
    wrong = {"appliance_id": "app-1", "bootstrap_token": token + "x", "agent_version": "1.0"}
    assert fleet.client.post("/fleet/v1/register", json=wrong).status_code == 401
    unknown = {"appliance_id": "app-404", "bootstrap_token": token, "agent_version": "1.0"}
    assert fleet.client.post("/fleet/v1/register", json=unknown).status_code == 401
    fleet.clock.advance(8 * 24 * 3600)
    right = {"appliance_id": "app-1", "bootstrap_token": token, "agent_version": "1.0"}
    assert fleet.client.post("/fleet/v1/register", json=right).status_code == 401


def test_an_appliance_cannot_touch_another_appliances_records(fleet: FleetHarness) -> None:
    auth = _setup(fleet, "app-1")
    fleet.put_appliance("app-2", site_id="ams-1", cluster_id="ams-1-c1")
    for method, leaf in (("get", "signing-secrets"), ("get", "manifest"), ("post", "heartbeat")):
        response = getattr(fleet.client, method)(f"/fleet/v1/appliances/app-2/{leaf}", headers=auth)
        assert response.status_code == 403, leaf
        assert "its own records" in response.json()["message"]


def test_heartbeat_for_another_id_in_the_body_is_refused(fleet: FleetHarness) -> None:
    from tests.integration.fleet.support import make_heartbeat

    auth = _setup(fleet)
    body = make_heartbeat("app-2", sent_at=fleet.clock.now).model_dump_json()
    response = fleet.client.post(
        "/fleet/v1/appliances/app-1/heartbeat",
        content=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "reports only for itself" in response.json()["message"]


def test_credential_rotation_revokes_the_old_secret(fleet: FleetHarness) -> None:
    auth = _setup(fleet)
    response = fleet.client.post("/fleet/v1/appliances/app-1/credential", headers=auth)
    assert response.status_code == 200
    credential = response.json()["credential"]
    new_auth = {"Authorization": f"Appliance {credential['credential_id']}.{credential['secret']}"}
    assert (
        fleet.client.get("/fleet/v1/appliances/app-1/signing-secrets", headers=auth).status_code
        == 401
    )
    assert (
        fleet.client.get("/fleet/v1/appliances/app-1/signing-secrets", headers=new_auth).status_code
        == 200
    )


def test_the_health_sweep_records_a_silent_appliance_going_unhealthy(fleet: FleetHarness) -> None:
    from control_plane.fleet.health_sweep import sweep

    auth = _setup(fleet)
    fleet.heartbeat("app-1", auth)
    fleet.clock.advance(10)
    fleet.heartbeat("app-1", auth)
    quiet = {"flipped": [], "stale": [], "published": True}
    assert sweep(context=fleet.context, now=fleet.clock.now) == quiet
    fleet.clock.advance(10)
    assert sweep(context=fleet.context, now=fleet.clock.now) == quiet, "one miss"
    fleet.clock.advance(30)
    gone = {"flipped": ["app-1"], "stale": ["app-1"], "published": True}
    assert sweep(context=fleet.context, now=fleet.clock.now) == gone
    assert sweep(context=fleet.context, now=fleet.clock.now) == {**gone, "flipped": []}, "once"
    health = fleet.context.store.health.get({"appliance_id": "app-1"})
    assert health is not None and not health.doc.healthy
    assert "no heartbeat for" in health.doc.reason
    audit = fleet.client.get("/fleet/v1/admin/appliances/app-1/audit", headers=fleet.admin).json()
    assert audit[0]["action"] == "unhealthy"
    assert "no heartbeat for" in audit[0]["reason"]


def test_undrain_is_not_undone_by_a_heartbeat_from_before_it(fleet: FleetHarness) -> None:
    # Found by `make demo-chaos`: the agent, still Draining from the order the undrain ended,
    # reported Draining, and the control plane took that for a drain of its own. The basis
    # is the control plane's own time, echoed back, so the agent's clock plays no part.
    auth = _setup(fleet)
    fleet.heartbeat("app-1", auth)
    admin = "/fleet/v1/admin/appliances/app-1"
    fleet.client.post(f"{admin}/drain", json={"reason": "maintenance"}, headers=fleet.admin)
    fleet.clock.advance(5)
    order = fleet.heartbeat("app-1", auth)
    assert order["desired_state"] == "Draining" and order["state_changed_at"] is not None
    drain_basis = order["state_changed_at"]  # the agent drains on this state
    assert (
        fleet.heartbeat("app-1", auth, state="Draining", state_basis=drain_basis)["desired_state"]
        == "Draining"
    )
    fleet.clock.advance(5)
    fleet.client.post(f"{admin}/undrain", json={"reason": "done"}, headers=fleet.admin)
    fleet.clock.advance(5)
    stale = fleet.heartbeat("app-1", auth, state="Draining", state_basis=drain_basis)
    assert stale["desired_state"] == "Serving"
    assert stale["state_changed_at"] > drain_basis
    assert fleet.client.get(admin, headers=fleet.admin).json()["state"] == "Serving"

    # A drain the appliance starts itself once it knows of the undrain is honoured.
    fleet.clock.advance(5)
    own = fleet.heartbeat("app-1", auth, state="Draining", state_basis=stale["state_changed_at"])
    assert own["desired_state"] == "Draining"
    # So is one from an agent that sends no basis (older agents).
    fleet.client.post(f"{admin}/undrain", json={"reason": "again"}, headers=fleet.admin)
    fleet.clock.advance(5)
    assert fleet.heartbeat("app-1", auth, state="Draining")["desired_state"] == "Draining"
