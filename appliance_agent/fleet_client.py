"""The agent's one client for the fleet API (edgefill_contracts.fleet_api): registration,
heartbeats, served reports, signing secrets, certificates, the manifest and origin URLs.

httpx errors are translated here, in one place, into FleetUnreachable / FleetRejected (both
ControlPlaneError); URLs are logged redacted, and the credential never appears in a log line
or an exception.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from appliance_agent.config import AgentConfig
from appliance_agent.errors import (
    ControlPlaneError,
    FleetRejected,
    FleetUnreachable,
    ManifestRejected,
)
from appliance_agent.manifest_validation import parse_manifest
from appliance_agent.redact import redact_url
from edgefill_contracts import (
    ApplianceCredential,
    CertificateRequest,
    CertificateResponse,
    Heartbeat,
    HeartbeatAck,
    Manifest,
    RegistrationRequest,
    RegistrationResponse,
    ServedAck,
    ServedReport,
    SigningSecretSet,
    appliance_path,
    register_path,
)
from edgefill_contracts.fleet_api import (
    ClientPrefixes,
    ManifestLocation,
    OriginUrlRequest,
    OriginUrls,
)
from edgefill_contracts.identity import CREDENTIAL_HEADER

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest just fetched: decoded, and its gzip'd body as downloaded (for the cache)."""

    manifest: Manifest
    etag: str | None
    body: bytes


def fleet_client_for(
    config: AgentConfig, credential: ApplianceCredential | None, *, timeout_s: float | None = None
) -> FleetClient:
    """The client for this agent's control plane; `timeout_s` defaults to the health one."""
    return FleetClient(
        base_url=str(config.control_plane_url),
        credential=credential,
        timeout_s=config.health.request_timeout_s if timeout_s is None else timeout_s,
    )


class FleetClient:
    """One appliance's calls; `credential` is None only before registration."""

    def __init__(
        self,
        *,
        base_url: str,
        credential: ApplianceCredential | None,
        timeout_s: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credential = credential
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> FleetClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def register(self, request: RegistrationRequest) -> RegistrationResponse:
        # The bootstrap token is a SecretStr: serialize it by hand, model_dump would mask it.
        body: dict[str, object] = {
            "appliance_id": request.appliance_id,
            "bootstrap_token": request.bootstrap_token.get_secret_value(),
            "agent_version": request.agent_version,
        }
        return self._call("POST", register_path(), RegistrationResponse, body=body, auth=False)

    def send_heartbeat(self, heartbeat: Heartbeat) -> HeartbeatAck:
        path = appliance_path(self._appliance_id(), "heartbeat")
        body = heartbeat.model_dump(mode="json")
        return self._call("POST", path, HeartbeatAck, body=body)

    def send_served(self, report: ServedReport) -> ServedAck:
        """Report served bytes; a resent report (same report_id) is acknowledged as a duplicate."""
        path = appliance_path(self._appliance_id(), "served")
        return self._call("POST", path, ServedAck, body=report.model_dump(mode="json"))

    def signing_secrets(self) -> SigningSecretSet:
        path = appliance_path(self._appliance_id(), "signing-secrets")
        return self._call("GET", path, SigningSecretSet)

    def client_prefixes(self) -> ClientPrefixes:
        """Its site's client prefixes (the set checked against its version on arrival)."""
        path = appliance_path(self._appliance_id(), "client-prefixes")
        return self._call("GET", path, ClientPrefixes)

    def issue_certificate(self, request: CertificateRequest) -> CertificateResponse:
        path = appliance_path(self._appliance_id(), "certificate")
        return self._call("POST", path, CertificateResponse, body=request.model_dump(mode="json"))

    def fetch_manifest(self, *, etag: str | None, byte_budget: int) -> FetchedManifest | None:
        """The new manifest, validated whole, or None when it has not changed since `etag`
        (`If-None-Match`: a 304 costs no download at all). ManifestRejected when it is invalid.

        The fleet API answers with the manifest's location (ManifestLocation); its body comes
        from there (S3), with no credential, bounded by the announced size and checked against
        the announced sha256 before a byte of it is decoded.
        """
        appliance_id = self._appliance_id()
        path = appliance_path(appliance_id, "manifest")
        response = self._send("GET", path, etag=etag)
        if response.status_code == 304:
            return None
        if response.status_code in (401, 403):
            raise FleetRejected(
                f"the fleet API refused this appliance's credential (HTTP "
                f"{response.status_code}): it may have been revoked; re-register the appliance",
                status_code=response.status_code,
            )
        if response.status_code != 200:
            raise FleetRejected(
                f"GET {path} answered {response.status_code}: {_detail(response)}; keeping the "
                "current content and trying again later",
                status_code=response.status_code,
            )
        try:
            location = ManifestLocation.model_validate_json(response.content)
        except ValidationError as exc:
            raise ControlPlaneError(
                f"GET {path} answered with a body that is not a ManifestLocation "
                f"({exc.error_count()} errors); the control plane and agent versions may not match"
            ) from exc
        body = self._download(location)
        manifest = parse_manifest(
            body, appliance_id=appliance_id, byte_budget=byte_budget, sha256=location.sha256
        )
        if manifest.version != location.version:
            raise ManifestRejected(
                f"the manifest body is version {manifest.version}, its location named "
                f"{location.version}"
            )
        return FetchedManifest(manifest=manifest, etag=response.headers.get("etag"), body=body)

    def _download(self, location: ManifestLocation) -> bytes:
        """The body at `location`, at most its announced size; FleetUnreachable on failure."""
        url = str(location.url)
        chunks: list[bytes] = []
        have = 0
        try:
            # A fresh request without the client's base URL or credential: the URL is signed.
            with self._client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as got:
                if got.status_code != 200:
                    raise FleetUnreachable(
                        f"manifest download {redact_url(url)} answered HTTP {got.status_code}; "
                        "retrying later"
                    )
                for chunk in got.iter_raw():
                    have += len(chunk)
                    if have > location.size:
                        raise ManifestRejected(
                            f"manifest body is longer than the announced {location.size} bytes"
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise FleetUnreachable(
                f"manifest download {redact_url(url)} failed: {type(exc).__name__}; retrying later"
            ) from exc
        if have != location.size:
            raise FleetUnreachable(
                f"manifest download ended at {have} of {location.size} bytes; retrying later"
            )
        return b"".join(chunks)

    def origin_urls(self, keys: list[str]) -> OriginUrls:
        """Short-lived origin URLs for `keys` (at most MAX_ORIGIN_URLS_PER_REQUEST)."""
        path = appliance_path(self._appliance_id(), "origin-urls")
        body = OriginUrlRequest(keys=keys).model_dump(mode="json")
        return self._call("POST", path, OriginUrls, body=body)

    def _appliance_id(self) -> str:
        if self.credential is None:
            raise ControlPlaneError(
                "this call needs the appliance credential, and the agent has none yet; "
                "register first (appliance-agent register)"
            )
        return self.credential.appliance_id

    def _call(
        self,
        method: str,
        path: str,
        model: type[ModelT],
        *,
        body: dict[str, object] | None = None,
        auth: bool = True,
    ) -> ModelT:
        response = self._send(method, path, body=body, auth=auth)
        if response.status_code >= 400:
            raise FleetRejected(
                f"{method} {path} answered {response.status_code}: {_detail(response)}",
                status_code=response.status_code,
            )
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ControlPlaneError(
                f"{method} {path} answered {response.status_code} with a body that is not a "
                f"{model.__name__} ({exc.error_count()} errors); the control plane and agent "
                "versions may not match"
            ) from exc

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, object] | None = None,
        auth: bool = True,
        etag: str | None = None,
    ) -> httpx.Response:
        """One request; the only place httpx's errors are translated."""
        headers: dict[str, str] = {}
        if auth:
            if self.credential is None:
                raise ControlPlaneError(
                    f"{method} {path} needs the appliance credential; register first"
                )
            headers[CREDENTIAL_HEADER] = self.credential.authorization_header()
        if etag:
            headers["If-None-Match"] = etag
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._client.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise FleetUnreachable(
                f"{method} {self._client.base_url}{path} failed: {type(exc).__name__}; "
                "the control plane is unreachable, the appliance keeps serving what it holds "
                "and retries with backoff"
            ) from exc


def _detail(response: httpx.Response) -> str:
    """The error's message from the control plane's JSON body, cut short; never the request."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(payload, dict):
        for key in ("message", "detail", "error"):
            if key in payload:
                return str(payload[key])[:200]
    return str(payload)[:200]
