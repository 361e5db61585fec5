"""A small fleet API that speaks the contracts, on uvicorn on loopback, recording what it gets.

It stands in for control_plane.fleet in the agent's tests: registration with a one-time
bootstrap token, heartbeats (recorded; the ack carries the orders the test sets), served
reports (kept once per report_id, as the control plane does), the signing secret set, and a
small CA that signs CSRs.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Header, HTTPException, Response

from edgefill_contracts import (
    ApplianceState,
    CertificateRequest,
    CertificateResponse,
    Heartbeat,
    HeartbeatAck,
    RegistrationRequest,
    ServedAck,
    ServedReport,
)
from tests.integration.agent_serve.appliance_nginx import free_port


@dataclass
class SmallCa:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls) -> SmallCa:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgefill test CA")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, certificate=cert)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, csr_pem: str, *, lifetime: timedelta) -> tuple[str, datetime]:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        now = datetime.now(UTC)
        not_after = (now + lifetime).replace(microsecond=0)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode(), not_after


@dataclass
class FleetState:
    """What the server knows and what it will order; tests read and change it directly."""

    appliance_id: str
    bootstrap_token: str
    secrets: dict[str, str]
    desired_state: ApplianceState = ApplianceState.SERVING
    credential_secret: str = "appliance-credential-secret-1234"
    registered: bool = False
    heartbeats: list[Heartbeat] = field(default_factory=list)
    served: dict[str, ServedReport] = field(default_factory=dict)
    certificates_issued: int = 0
    certificate_lifetime: timedelta = timedelta(days=2)
    ca: SmallCa = field(default_factory=SmallCa.create)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authorization(self) -> str:
        return f"Appliance cred-1.{self.credential_secret}"


def create_app(state: FleetState) -> FastAPI:
    app = FastAPI()

    def check(appliance_id: str, authorization: str | None) -> None:
        if appliance_id != state.appliance_id or authorization != state.authorization:
            raise HTTPException(status_code=401, detail="unknown appliance credential")

    @app.post("/fleet/v1/register")
    def register(body: RegistrationRequest) -> Response:
        with state.lock:
            if (
                state.registered
                or body.appliance_id != state.appliance_id
                or body.bootstrap_token.get_secret_value() != state.bootstrap_token
            ):
                raise HTTPException(status_code=401, detail="bootstrap token refused")
            state.registered = True
        payload = {
            "credential": {
                "appliance_id": state.appliance_id,
                "credential_id": "cred-1",
                "secret": state.credential_secret,
            },
            "issued_at": datetime.now(UTC).isoformat(),
        }
        return Response(json.dumps(payload), media_type="application/json")

    @app.post("/fleet/v1/appliances/{appliance_id}/heartbeat")
    def heartbeat(
        appliance_id: str, body: Heartbeat, authorization: str | None = Header(default=None)
    ) -> HeartbeatAck:
        check(appliance_id, authorization)
        with state.lock:
            state.heartbeats.append(body)
            return HeartbeatAck(
                desired_state=state.desired_state, signing_secret_ids=sorted(state.secrets)
            )

    @app.post("/fleet/v1/appliances/{appliance_id}/served")
    def served(
        appliance_id: str, body: ServedReport, authorization: str | None = Header(default=None)
    ) -> ServedAck:
        check(appliance_id, authorization)
        with state.lock:
            duplicate = body.report_id in state.served
            state.served.setdefault(body.report_id, body)
        return ServedAck(report_id=body.report_id, duplicate=duplicate)

    @app.get("/fleet/v1/appliances/{appliance_id}/signing-secrets")
    def signing_secrets(
        appliance_id: str, authorization: str | None = Header(default=None)
    ) -> Response:
        check(appliance_id, authorization)
        with state.lock:
            document = {
                "secrets": [{"secret_id": k, "secret": v} for k, v in sorted(state.secrets.items())]
            }
        return Response(json.dumps(document), media_type="application/json")

    @app.post("/fleet/v1/appliances/{appliance_id}/certificate")
    def certificate(
        appliance_id: str,
        body: CertificateRequest,
        authorization: str | None = Header(default=None),
    ) -> CertificateResponse:
        check(appliance_id, authorization)
        pem, not_after = state.ca.sign(body.csr_pem, lifetime=state.certificate_lifetime)
        with state.lock:
            state.certificates_issued += 1
        return CertificateResponse(certificate_pem=pem, chain_pem=state.ca.pem, not_after=not_after)

    return app


@dataclass
class RunningApp:
    """An ASGI app on uvicorn in a thread, on a free loopback port."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_app(app: FastAPI) -> RunningApp:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-app-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise TimeoutError("the test app server did not start within 10 s")
        time.sleep(0.02)
    return RunningApp(url=f"http://127.0.0.1:{port}", server=server, thread=thread)


@dataclass
class RunningFleet:
    state: FleetState
    app: RunningApp

    @property
    def url(self) -> str:
        return self.app.url

    def stop(self) -> None:
        self.app.stop()


def run_fleet(state: FleetState) -> Iterator[RunningFleet]:
    fleet = RunningFleet(state=state, app=serve_app(create_app(state)))
    try:
        yield fleet
    finally:
        fleet.stop()
