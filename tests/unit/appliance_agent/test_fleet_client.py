"""The fleet client's error translation and request shape (protocol edges via MockTransport)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from appliance_agent.errors import (
    ControlPlaneError,
    FleetRejected,
    FleetUnreachable,
    ManifestRejected,
)
from appliance_agent.fleet_client import FleetClient
from edgefill_contracts import ApplianceCredential, RegistrationRequest, ServedReport
from tests.support.manifests import File, manifest_of

CREDENTIAL = ApplianceCredential(
    appliance_id="ap-1", credential_id="c1", secret=SecretStr("very-secret-value")
)


def _client(handler: object, credential: ApplianceCredential | None = CREDENTIAL) -> FleetClient:
    return FleetClient(
        base_url="http://fleet.test/",
        credential=credential,
        timeout_s=1,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


def test_signing_secrets_sends_the_credential_and_parses_the_set() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"secrets": [{"secret_id": "k1", "secret": "s" * 20}]})

    with _client(handler) as client:
        secrets = client.signing_secrets()
    assert secrets.secrets[0].secret.get_secret_value() == "s" * 20
    assert seen[0].url.path == "/fleet/v1/appliances/ap-1/signing-secrets"
    assert seen[0].headers["authorization"] == "Appliance c1.very-secret-value"


def test_registration_sends_the_token_in_clear_and_no_credential() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        assert "authorization" not in request.headers
        return httpx.Response(
            200,
            json={
                "credential": {"appliance_id": "ap-1", "credential_id": "c9", "secret": "x" * 20},
                "issued_at": datetime.now(UTC).isoformat(),
            },
        )

    request = RegistrationRequest(
        appliance_id="ap-1", bootstrap_token=SecretStr("boot"), agent_version="1"
    )
    with _client(handler, None) as client:
        assert client.register(request).credential.credential_id == "c9"
    assert bodies[0]["bootstrap_token"] == "boot"


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (httpx.Response(503, json={"message": "try later"}), FleetRejected, "503: try later"),
        (httpx.Response(401, text="nope"), FleetRejected, "401: nope"),
        (httpx.Response(200, text="not json"), ControlPlaneError, "not a SigningSecretSet"),
        (httpx.Response(200, json={"secrets": []}), ControlPlaneError, "not a SigningSecretSet"),
    ],
)
def test_error_answers_are_translated(
    response: httpx.Response, error: type[Exception], message: str
) -> None:
    with _client(lambda _request: response) as client, pytest.raises(error, match=message):
        client.signing_secrets()


def test_transport_errors_mean_unreachable_and_leak_no_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _client(handler) as client, pytest.raises(FleetUnreachable) as caught:
        client.signing_secrets()
    assert isinstance(caught.value, ControlPlaneError)  # the CLI's handling applies
    assert "very-secret-value" not in str(caught.value)


def test_calls_that_need_a_credential_say_register_first() -> None:
    with (
        _client(lambda _r: httpx.Response(200), None) as client,
        pytest.raises(ControlPlaneError, match="register"),
    ):
        client.signing_secrets()


REPORT = ServedReport(
    report_id="a" * 32,
    sealed_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    by_unit={"t1/720p": 1500, "t2/1080p": 300},
)


@pytest.mark.parametrize("duplicate", [False, True])
def test_send_served_posts_the_report_and_parses_the_ack(duplicate: bool) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"report_id": "a" * 32, "duplicate": duplicate})

    with _client(handler) as client:
        ack = client.send_served(REPORT)
    assert (ack.report_id, ack.duplicate) == ("a" * 32, duplicate)
    assert (seen[0].method, seen[0].url.path) == ("POST", "/fleet/v1/appliances/ap-1/served")
    assert seen[0].headers["authorization"] == "Appliance c1.very-secret-value"
    assert json.loads(seen[0].content) == {
        "report_id": "a" * 32,
        "sealed_at": "2026-11-25T12:00:00Z",
        "by_unit": {"t1/720p": 1500, "t2/1080p": 300},
    }


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (httpx.Response(422, json={"detail": "bad unit"}), FleetRejected, "422: bad unit"),
        (httpx.Response(404, text="Not Found"), FleetRejected, "served answered 404"),
        (httpx.Response(200, json={"duplicate": False}), ControlPlaneError, "not a ServedAck"),
    ],
)
def test_send_served_errors_are_translated(
    response: httpx.Response, error: type[Exception], message: str
) -> None:
    with _client(lambda _request: response) as client, pytest.raises(error, match=message):
        client.send_served(REPORT)


def _manifest_body(appliance_id: str = "ap-1", version: str = "v7") -> bytes:
    built = manifest_of(
        [File(key="t1/720p/a.bin", size=10, sha256="ab" * 32)],
        appliance_id=appliance_id,
        version=version,
        byte_budget=5_000,
    )
    return built.body


def _location(body: bytes, **overrides: object) -> dict[str, object]:
    location: dict[str, object] = {
        "version": "v7",
        "url": "https://s3.test/manifests/ap-1/v7.jsonl.gz?X-Amz-Signature=sig",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "expires_at": datetime.now(UTC).isoformat(),
    }
    location.update(overrides)
    return location


def _serving(
    body: bytes, location: dict[str, object] | None = None, s3: httpx.Response | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """The fleet API's location answer, and S3's answer at the location."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "s3.test":
            assert "authorization" not in request.headers, "no credential goes to S3"
            return s3 if s3 is not None else httpx.Response(200, content=iter([body]))
        return httpx.Response(200, json=location or _location(body), headers={"ETag": '"v7"'})

    return handler


def test_fetch_manifest_sends_the_etag_and_a_304_is_no_change() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304)

    with _client(handler) as client:
        assert client.fetch_manifest(etag='"v6"', byte_budget=10_000) is None
    assert seen[0].url.path == "/fleet/v1/appliances/ap-1/manifest"
    assert seen[0].headers["if-none-match"] == '"v6"'
    assert seen[0].headers["authorization"] == "Appliance c1.very-secret-value"


def test_fetch_manifest_downloads_the_body_from_its_location_and_keeps_the_etag() -> None:
    body = _manifest_body()
    with _client(_serving(body)) as client:
        fetched = client.fetch_manifest(etag=None, byte_budget=10_000)
    assert fetched is not None
    assert (fetched.manifest.version, fetched.etag, fetched.body) == ("v7", '"v7"', body)


_BODY = _manifest_body()


@pytest.mark.parametrize(
    ("handler", "error", "says"),
    [
        (lambda _: httpx.Response(401), FleetRejected, "re-register"),
        (lambda _: httpx.Response(403), FleetRejected, "re-register"),
        (lambda _: httpx.Response(500, json={"message": "boom"}), FleetRejected, "500: boom"),
        (
            lambda _: httpx.Response(200, content=b"{not json"),
            ControlPlaneError,
            "ManifestLocation",
        ),
        (_serving(_manifest_body("ap-2")), ManifestRejected, "not 'ap-1'"),
        (_serving(_manifest_body(version="v8")), ManifestRejected, "location named v7"),
        (_serving(_BODY, _location(_BODY, sha256="0" * 64)), ManifestRejected, "substituted"),
        (_serving(_BODY + b"x", _location(_BODY)), ManifestRejected, "longer than the announced"),
        (_serving(_BODY[:-5], _location(_BODY)), FleetUnreachable, "ended at"),
        (_serving(_BODY, s3=httpx.Response(403)), FleetUnreachable, "HTTP 403"),
    ],
    ids=[
        "401",
        "403",
        "500",
        "location-not-json",
        "other-appliance",
        "other-version",
        "wrong-sha256",
        "longer",
        "shorter",
        "s3-refused",
    ],
)
def test_fetch_manifest_failures_say_what_to_do(
    handler: Callable[[httpx.Request], httpx.Response], error: type[Exception], says: str
) -> None:
    with _client(handler) as client, pytest.raises(error, match=says):
        client.fetch_manifest(etag=None, byte_budget=10_000)


def test_fetch_manifest_over_the_agents_budget_is_rejected() -> None:
    with _client(_serving(_BODY)) as client, pytest.raises(ManifestRejected, match="budget of 5"):
        client.fetch_manifest(etag=None, byte_budget=5)


def test_origin_urls_sends_the_keys_and_parses_the_urls() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url.path == "/fleet/v1/appliances/ap-1/origin-urls"
        return httpx.Response(
            200,
            json={
                "expires_at": datetime.now(UTC).isoformat(),
                "urls": {"t/r/a": "https://o.test/t/r/a?sig=1"},
            },
        )

    with _client(handler) as client:
        answer = client.origin_urls(["t/r/a", "t/r/b"])
    assert seen == [{"keys": ["t/r/a", "t/r/b"]}]
    assert {k: str(v) for k, v in answer.urls.items()} == {"t/r/a": "https://o.test/t/r/a?sig=1"}


def test_fetch_manifest_unreachable_is_a_control_plane_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with _client(handler) as client, pytest.raises(FleetUnreachable) as caught:
        client.fetch_manifest(etag=None, byte_budget=10_000)
    assert isinstance(caught.value, ControlPlaneError)
    assert "very-secret-value" not in str(caught.value)
