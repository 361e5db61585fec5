"""A stand-in fleet control plane for the Ansible tests: the fleet routes the playbooks call.

It speaks the wire contracts (RegistrationRequest/Response, Heartbeat/HeartbeatAck) for the
appliance side and a small admin surface (status, drain/undrain/revoke/retire, inventory) for
the controller side, keeps everything in memory, and can be told to find one appliance
unhealthy once it runs a given agent version (the failing host of the rolling-upgrade test).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import SecretStr

from edgefill_contracts import (
    ApplianceCredential,
    ApplianceState,
    Heartbeat,
    HeartbeatAck,
    RegistrationRequest,
    RegistrationResponse,
)
from edgefill_contracts.fleet_api import FLEET_PREFIX

ADMIN_PREFIX = f"{FLEET_PREFIX}/admin/appliances"


@dataclass
class ApplianceRecord:
    appliance_id: str
    site: str = "lab1"
    isp: str = "lab_isp"
    cluster: str = "lab1-a"
    address: str | None = None
    credential_id: str | None = None
    secret: str | None = None
    revoked: bool = False
    retired: bool = False
    desired_state: ApplianceState = ApplianceState.SERVING
    state: ApplianceState | None = None
    agent_version: str | None = None
    healthy: bool = False
    heartbeats: int = 0
    last_heartbeat_at: datetime | None = None

    def status(self) -> dict[str, Any]:
        return {
            "appliance_id": self.appliance_id,
            "registered": self.credential_id is not None,
            "revoked": self.revoked,
            "retired": self.retired,
            "state": self.state.value if self.state else None,
            "desired_state": self.desired_state.value,
            "healthy": self.healthy,
            "agent_version": self.agent_version,
            "heartbeats": self.heartbeats,
        }


@dataclass
class FleetStandIn:
    """The registry: bootstrap tokens per appliance, records, and the injected fault."""

    admin_token: str
    bootstrap_tokens: dict[str, str]
    unhealthy_when: dict[str, str] = field(default_factory=dict)  # appliance id -> agent version
    records: dict[str, ApplianceRecord] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, appliance_id: str) -> ApplianceRecord:
        return self.records.setdefault(appliance_id, ApplianceRecord(appliance_id=appliance_id))


def build_app(fleet: FleetStandIn) -> FastAPI:
    app = FastAPI(title="fleet stand-in")

    def admin(authorization: Annotated[str, Header()] = "") -> None:
        if authorization != f"Bearer {fleet.admin_token}":
            raise HTTPException(status_code=401, detail="admin token required")

    def appliance(
        appliance_id: str, authorization: Annotated[str, Header()] = ""
    ) -> ApplianceRecord:
        record = fleet.records.get(appliance_id)
        scheme, _, value = authorization.partition(" ")
        credential_id, _, secret = value.partition(".")
        if (
            record is None
            or record.revoked
            or scheme != "Appliance"
            or credential_id != record.credential_id
            or secret != record.secret
        ):
            raise HTTPException(status_code=401, detail="appliance credential required")
        return record

    @app.post(f"{FLEET_PREFIX}/register")
    def register(request: RegistrationRequest) -> dict[str, Any]:
        expected = fleet.bootstrap_tokens.get(request.appliance_id)
        if expected is None or request.bootstrap_token.get_secret_value() != expected:
            raise HTTPException(status_code=403, detail="unknown appliance or bootstrap token")
        with fleet.lock:
            record = fleet.record(request.appliance_id)
            record.credential_id = secrets.token_hex(8)
            record.secret = secrets.token_urlsafe(24)
            record.revoked = False
        credential = ApplianceCredential(
            appliance_id=request.appliance_id,
            credential_id=record.credential_id,
            secret=SecretStr(record.secret),
        )
        response = RegistrationResponse(credential=credential, issued_at=datetime.now(UTC))
        # SecretStr dumps as "**********": the one place the secret goes out, put it back.
        body = response.model_dump(mode="json")
        body["credential"]["secret"] = record.secret
        return body

    @app.post(f"{FLEET_PREFIX}/appliances/{{appliance_id}}/heartbeat")
    def heartbeat(
        appliance_id: str, heartbeat: Heartbeat, authorization: Annotated[str, Header()] = ""
    ) -> HeartbeatAck:
        record = appliance(appliance_id, authorization)
        with fleet.lock:
            record.state = heartbeat.state
            record.agent_version = heartbeat.agent_version
            record.heartbeats += 1
            record.last_heartbeat_at = heartbeat.sent_at
            faulty = fleet.unhealthy_when.get(record.appliance_id) == heartbeat.agent_version
            record.healthy = not heartbeat.errors and not faulty
        return HeartbeatAck(desired_state=record.desired_state)

    @app.get(f"{ADMIN_PREFIX}/{{appliance_id}}", dependencies=[Depends(admin)])
    def status(appliance_id: str) -> dict[str, Any]:
        record = fleet.records.get(appliance_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no appliance {appliance_id}")
        return record.status()

    @app.post(f"{ADMIN_PREFIX}/{{appliance_id}}/{{action}}", dependencies=[Depends(admin)])
    def act(appliance_id: str, action: str) -> dict[str, Any]:
        record = fleet.records.get(appliance_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no appliance {appliance_id}")
        with fleet.lock:
            if action == "drain":
                record.desired_state = ApplianceState.DRAINING
            elif action == "undrain":
                record.desired_state = ApplianceState.SERVING
            elif action == "revoke":
                record.revoked = True
            elif action == "retire":
                record.retired = True
            else:
                raise HTTPException(status_code=404, detail=f"no action {action}")
            fleet.actions.append((appliance_id, action))
        return record.status()

    @app.get(f"{FLEET_PREFIX}/inventory", dependencies=[Depends(admin)])
    def inventory() -> dict[str, Any]:
        appliances = [
            {
                "appliance_id": r.appliance_id,
                "address": r.address,
                "isp": r.isp,
                "site": r.site,
                "cluster": r.cluster,
                "state": r.state.value if r.state else None,
                "healthy": r.healthy,
                "agent_version": r.agent_version,
                "capacity_bytes": 4_000_000_000_000,
            }
            for r in fleet.records.values()
            if not r.retired
        ]
        sites = [
            {
                "site": "lab1",
                "isp": "lab_isp",
                "timezone": "Europe/Amsterdam",
                "fill_window": {"start": "02:00", "end": "14:00", "timezone": "Europe/Amsterdam"},
                "prefixes": ["192.0.2.0/24"],
            }
        ]
        return {"appliances": appliances, "sites": sites}

    return app


def serve(fleet: FleetStandIn, *, host: str) -> AbstractContextManager[str]:
    """Run the stand-in under uvicorn in a thread on host:<free port>; yield its base URL."""
    return serve_app(build_app(fleet), host=host)


@contextmanager
def serve_app(app: FastAPI, *, host: str) -> Iterator[str]:
    """Run an ASGI app under uvicorn in a thread on host:<free port>; yield its base URL."""
    config = uvicorn.Config(app, host=host, port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = datetime.now(UTC).timestamp() + 10
    while not server.started:
        if datetime.now(UTC).timestamp() > deadline or not thread.is_alive():
            raise RuntimeError(f"the fleet stand-in did not start on {host}")
        threading.Event().wait(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
