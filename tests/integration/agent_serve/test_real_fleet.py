"""The agent against the real fleet service (control_plane.fleet on uvicorn, tables in moto):
registration, heartbeats, secrets the control plane signs with and nginx checks, rotation,
and a drain ordered by an operator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from appliance_agent import assembly
from appliance_agent.config import AgentConfig
from appliance_agent.fleet_client import FleetClient, fleet_client_for
from appliance_agent.health.heartbeat import HeartbeatTask
from appliance_agent.serve.client_prefixes import ClientPrefixStore
from appliance_agent.serve.settings import OnNet
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.app import create_app
from control_plane.fleet.context import FleetContext
from control_plane.signing.key_store import SigningSecretStore as FleetSecrets
from edgefill_contracts import ApplianceState, sign_path
from tests.integration.agent_serve.agent_under_test import agent_config
from tests.integration.agent_serve.appliance_nginx import RunningAppliance, put_object
from tests.integration.agent_serve.fleet_server import RunningApp, serve_app

pytestmark = pytest.mark.nginx

APPLIANCE = "a1"
KEY = "title-9/720p/seg_0001.ts"


@pytest.fixture
def fleet_app(stack: ServiceSettings) -> Iterator[RunningApp]:
    context = FleetContext.from_settings(stack, clock=lambda: datetime.now(UTC))
    running = serve_app(create_app(stack, context=context))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin(fleet_app: RunningApp, stack: ServiceSettings) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.admin_token.get_secret_value()}"}
    with httpx.Client(base_url=fleet_app.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def config(
    tmp_path: Path, fleet_app: RunningApp, admin: httpx.Client, appliance: RunningAppliance
) -> AgentConfig:
    prefix = "/fleet/v1/admin"
    for path, body in [
        (f"{prefix}/isps/isp-a", {"allocations": ["198.51.100.0/22"]}),
        (f"{prefix}/sites/ams-1", {"isp": "isp-a", "location": "Amsterdam", "prefixes": ["198.51.100.0/24"]}),
        (f"{prefix}/clusters/c1", {"site_id": "ams-1"}),
        (f"{prefix}/appliances/{APPLIANCE}", {
            "site_id": "ams-1", "cluster_id": "c1", "byte_budget": 10**9,
            "addresses": ["127.0.0.1"], "public_base_url": appliance.base_url,
        }),
    ]:  # fmt: skip
        assert admin.put(path, json=body).status_code == 200
    token = admin.post(f"{prefix}/appliances/{APPLIANCE}/bootstrap-token").json()
    config = agent_config(tmp_path / "agent", fleet_url=fleet_app.url, serve=appliance.settings)
    config = config.model_copy(update={"appliance_id": APPLIANCE})
    config.health.bootstrap_token_file.parent.mkdir(parents=True)
    config.health.bootstrap_token_file.write_text(token["bootstrap_token"])
    return config


@pytest.fixture
def task(config: AgentConfig) -> Iterator[HeartbeatTask]:
    client: FleetClient = fleet_client_for(config, None)
    try:
        assembly.register(config, client)
        yield assembly.heartbeat_task(config, client=client)
    finally:
        client.close()


def _until(task: HeartbeatTask, condition: Callable[[], bool]) -> None:
    for _ in range(30):
        task.beat()
        if condition():
            return
    raise AssertionError("condition not reached within 30 heartbeats")


def _site_ids(stack: ServiceSettings, site_id: str = "ams-1") -> list[str]:
    return [
        s.secret_id for s in FleetSecrets(settings=stack).for_site(site_id, now=datetime.now(UTC))
    ]


def _fleet_signed(
    stack: ServiceSettings, appliance: RunningAppliance, key: str, site_id: str = "ams-1"
) -> str:
    """A URL signed the way the control plane signs: the site's newest key, the shared signer."""
    newest = FleetSecrets(settings=stack).for_site(site_id, now=datetime.now(UTC))[0]
    path = sign_path(
        secret_id=newest.secret_id, secret=newest.value, key=key, expires=int(time.time()) + 3600
    )
    return appliance.base_url + path


def test_agent_and_real_fleet(
    task: HeartbeatTask,
    stack: ServiceSettings,
    admin: httpx.Client,
    appliance: RunningAppliance,
) -> None:
    put_object(appliance.settings, KEY, b"signed by the control plane")
    fleet_ids = _site_ids(stack)

    # First heartbeats: the agent fetches its site's keys and renders nginx with them.
    _until(task, lambda: task.monitor.snapshot(datetime.now(UTC)).accepted_secret_ids == fleet_ids)
    url = _fleet_signed(stack, appliance, KEY)
    assert httpx.get(url, timeout=5).content == b"signed by the control plane"

    # Another site's key is not accepted here: a URL signed for it gets 403.
    assert (
        httpx.get(_fleet_signed(stack, appliance, KEY, "other-site"), timeout=5).status_code == 403
    )

    # Rotation: the new key is accepted before anything is signed with it.
    rotated = admin.post("/fleet/v1/admin/sites/ams-1/signing-secrets/rotate")
    assert rotated.status_code == 200, rotated.text
    new_ids = _site_ids(stack)
    assert len(new_ids) == 2 and rotated.json()["secret_id"] == new_ids[0]
    _until(
        task,
        lambda: (
            sorted(task.monitor.snapshot(datetime.now(UTC)).accepted_secret_ids) == sorted(new_ids)
        ),
    )
    assert httpx.get(_fleet_signed(stack, appliance, KEY), timeout=5).status_code == 200
    assert httpx.get(url, timeout=5).status_code == 200  # the previous secret still works

    # Registration made it Serving in the registry; the agent agrees.
    reason = {"reason": "test"}
    assert admin.get(f"/fleet/v1/admin/appliances/{APPLIANCE}").json()["state"] == "Serving"
    assert task.drain.current().state is ApplianceState.SERVING

    # The operator drains: the agent drains (nginx idle, so at once) and the registry follows.
    assert (
        admin.post(f"/fleet/v1/admin/appliances/{APPLIANCE}/drain", json=reason).status_code == 200
    )
    _until(
        task,
        lambda: admin.get(f"/fleet/v1/admin/appliances/{APPLIANCE}").json()["state"] == "Drained",
    )
    assert task.drain.current().state is ApplianceState.DRAINED
    assert httpx.get(url, timeout=5).status_code == 200  # draining never stops nginx


def test_on_net_follows_the_sites_prefixes_in_the_registry(
    config: AgentConfig, admin: httpx.Client, stack: ServiceSettings, appliance: RunningAppliance
) -> None:
    """The operator changes the site's prefixes; within a heartbeat the appliance serves the
    new set and refuses everyone else (the test client is 127.0.0.1)."""
    on_net = OnNet(enabled=True, from_control_plane=True)
    config = config.model_copy(update={"serve": config.serve.model_copy(update={"on_net": on_net})})
    put_object(appliance.settings, KEY, b"on-net")
    with fleet_client_for(config, None) as client:
        assembly.register(config, client)
        task = assembly.heartbeat_task(config, client=client)
        stored = ClientPrefixStore(config.state_dir / "client-prefixes.json")
        _until(task, lambda: stored.stored_version() is not None)
        assert stored.load() is not None and stored.load().prefixes == ("198.51.100.0/24",)  # type: ignore[union-attr]
        _until(
            task,
            lambda: httpx.get(_fleet_signed(stack, appliance, KEY), timeout=5).status_code == 403,
        )

        prefix = "/fleet/v1/admin"
        assert (
            admin.put(
                f"{prefix}/isps/isp-a", json={"allocations": ["198.51.100.0/22", "127.0.0.0/8"]}
            ).status_code
            == 200
        )
        site = {
            "isp": "isp-a",
            "location": "Amsterdam",
            "prefixes": ["198.51.100.0/24", "127.0.0.0/8"],
        }
        assert admin.put(f"{prefix}/sites/ams-1", json=site).status_code == 200
        _until(
            task,
            lambda: httpx.get(_fleet_signed(stack, appliance, KEY), timeout=5).status_code == 200,
        )
        assert httpx.get(_fleet_signed(stack, appliance, KEY), timeout=5).content == b"on-net"
