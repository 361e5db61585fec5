"""The local gateway routes like API Gateway, path unchanged, and holds requests to its limits."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from control_plane.common.settings import ServiceSettings
from lab.aws_limits import (
    HTTP_API_INTEGRATION_TIMEOUT_S,
    HTTP_API_PAYLOAD_MAX_BYTES,
    LAMBDA_REQUEST_MAX_BYTES,
    LAMBDA_RESPONSE_MAX_BYTES,
)
from lab.gateway import LocalGateway, _Route


def echo_app(name: str) -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @router.get("/{rest:path}")
    def echo(request: Request, rest: str) -> dict[str, str]:
        client = request.client.host if request.client else ""
        return {"service": name, "path": request.url.path, "client": client}

    app.include_router(router)
    return app


def make_gateway() -> LocalGateway:
    return LocalGateway(
        [
            _Route(prefix="/fleet/v1", service="fleet", app=echo_app("fleet")),
            _Route(prefix="/fleet/v1/admin", service="admin", app=echo_app("admin")),
            _Route(prefix="/catalog", service="catalog", app=echo_app("catalog")),
        ]
    )


def test_longest_prefix_wins_and_path_is_kept() -> None:
    with TestClient(make_gateway()) as client:
        admin = client.get("/fleet/v1/admin/sites").json()
        assert (admin["service"], admin["path"]) == ("admin", "/fleet/v1/admin/sites")
        assert client.get("/fleet/v1/appliances/a/manifest").json()["service"] == "fleet"
        catalog = client.get("/catalog/titles").json()
        assert (catalog["service"], catalog["path"]) == ("catalog", "/catalog/titles")


def test_prefix_must_end_at_a_path_boundary() -> None:
    with TestClient(make_gateway()) as client:
        response = client.get("/catalogue/x")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_settings_are_not_needed_for_routing() -> None:
    # Building needs settings only for the apps; an empty registry gives a gateway that 404s.
    from lab.gateway import build_gateway

    gateway = build_gateway(ServiceSettings(environment="development"), services=[])
    with TestClient(gateway) as client:
        assert client.get("/anything").status_code == 404


def test_lab_client_ip_header_becomes_the_client_address() -> None:
    with TestClient(make_gateway()) as client:
        seen = client.get("/catalog/x", headers={"X-Lab-Client-IP": "2001:db8::7"}).json()
        assert seen["client"] == "2001:db8::7"
        ignored = client.get("/catalog/x", headers={"X-Lab-Client-IP": "not-an-ip"}).json()
        assert ignored["client"] == "testclient"


# -- The limits of what the gateway stands in for (lab.aws_limits) ------------------------------

MIB = 1024 * 1024
TOO_LARGE = {"message": "Request Entity Too Large"}
TIMED_OUT = {"message": "Service Unavailable"}
BAD_RESPONSE = {"message": "Internal Server Error"}


class LimitsApp:
    """A service that reports what it received, answers with bodies of a size asked, or stalls."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.release = threading.Event()
        self.app = FastAPI()
        router = APIRouter(prefix="/svc")

        @router.post("/echo")
        async def echo(request: Request) -> dict[str, int]:
            body = await request.body()
            self.received.append(len(body))
            return {"bytes": len(body)}

        @router.get("/blob")
        def blob(n: int, media_type: str) -> Response:
            return Response(b"x" * n, media_type=media_type)

        @router.get("/stream")
        def stream(n: int) -> StreamingResponse:
            chunks = (b"x" * (n // 8) for _ in range(8))
            return StreamingResponse(chunks, media_type="text/plain")

        @router.get("/sleep")
        async def sleep(s: float) -> dict[str, float]:
            await asyncio.sleep(s)
            return {"slept": s}

        @router.get("/blocked")
        def blocked() -> dict[str, bool]:
            # A sync route runs in a thread, which no cancellation stops; the gateway must not
            # wait for it, as API Gateway does not wait for a Lambda past the timeout.
            return {"released": self.release.wait(timeout=10)}

        @router.get("/broken")
        def broken() -> dict[str, str]:
            raise RuntimeError("service bug")

        self.app.include_router(router)

    def gateway(self, **kwargs: float) -> LocalGateway:
        return LocalGateway([_Route(prefix="/svc", service="svc", app=self.app)], **kwargs)


def binary_bytes_encoding_to(size: int) -> int:
    """How many raw bytes base64-encode to about `size` bytes."""
    return size * 3 // 4


@pytest.mark.parametrize(
    ("body_bytes", "content_type", "status", "logged"),
    [
        # The HTTP API payload quota, 10 MiB: one byte over, and exactly at it.
        (HTTP_API_PAYLOAD_MAX_BYTES + 1, "text/plain", 413, "HTTP API payload quota"),
        # At 10 MiB the payload quota passes it; Lambda's 6 MiB event limit stops it.
        (HTTP_API_PAYLOAD_MAX_BYTES, "text/plain", 413, "Lambda event"),
        # Lambda's 6 MiB request: a text body is counted as it is.
        (LAMBDA_REQUEST_MAX_BYTES + 1, "text/plain", 413, "Lambda event"),
        (LAMBDA_REQUEST_MAX_BYTES - 2048, "text/plain", 200, None),
        # A binary body travels base64-encoded in the event, a third larger.
        (binary_bytes_encoding_to(LAMBDA_REQUEST_MAX_BYTES) + 3, "image/png", 413, "Lambda event"),
        (binary_bytes_encoding_to(LAMBDA_REQUEST_MAX_BYTES - 2048), "image/png", 200, None),
    ],
)
def test_request_size_limits(
    caplog: pytest.LogCaptureFixture,
    body_bytes: int,
    content_type: str,
    status: int,
    logged: str | None,
) -> None:
    service = LimitsApp()
    with TestClient(service.gateway()) as client:
        response = client.post(
            "/svc/echo", content=b"x" * body_bytes, headers={"content-type": content_type}
        )
    assert response.status_code == status
    if status == 413:
        assert response.json() == TOO_LARGE
        assert service.received == []  # the service never saw it
        assert logged is not None and logged in caplog.text
    else:
        assert response.json() == {"bytes": body_bytes}


def test_a_streamed_body_over_the_payload_quota_is_refused_without_content_length() -> None:
    service = LimitsApp()
    gateway = service.gateway()
    seen_headers: list[dict[bytes, bytes]] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen_headers.append(dict(scope["headers"]))
        await gateway(scope, receive, send)

    def chunks(total: int) -> Iterator[bytes]:
        sent = 0
        while sent < total:
            chunk = b"x" * min(MIB, total - sent)
            sent += len(chunk)
            yield chunk

    with TestClient(recording) as client:
        over = client.post("/svc/echo", content=chunks(HTTP_API_PAYLOAD_MAX_BYTES + 1))
        under = client.post("/svc/echo", content=chunks(MIB))
    assert b"content-length" not in seen_headers[0]
    assert (over.status_code, over.json()) == (413, TOO_LARGE)
    assert (under.status_code, under.json()) == (200, {"bytes": MIB})
    assert service.received == [MIB]


@pytest.mark.parametrize(
    ("route", "media_type", "body_bytes", "status"),
    [
        # Lambda's response limit is 6 MiB + 100 bytes, counted on the proxy JSON (body and all).
        ("blob", "text/plain", LAMBDA_RESPONSE_MAX_BYTES + 1, 502),
        ("blob", "text/plain", LAMBDA_RESPONSE_MAX_BYTES - 1024, 200),
        # A binary body goes back base64-encoded, a third larger.
        ("blob", "image/png", binary_bytes_encoding_to(LAMBDA_RESPONSE_MAX_BYTES) + 3, 502),
        ("blob", "image/png", binary_bytes_encoding_to(LAMBDA_RESPONSE_MAX_BYTES - 1024), 200),
        # A streamed response is buffered and measured whole: the client gets a 502, not a 200
        # with part of the body already sent.
        ("stream", "text/plain", LAMBDA_RESPONSE_MAX_BYTES + 8, 502),
        ("stream", "text/plain", LAMBDA_RESPONSE_MAX_BYTES - 1024, 200),
    ],
)
def test_response_size_limit(route: str, media_type: str, body_bytes: int, status: int) -> None:
    with TestClient(LimitsApp().gateway()) as client:
        response = client.get(f"/svc/{route}", params={"n": body_bytes, "media_type": media_type})
    assert response.status_code == status
    if status == 502:
        assert response.json() == BAD_RESPONSE
    else:
        sent = body_bytes if route == "blob" else body_bytes // 8 * 8
        assert response.content == b"x" * sent


@pytest.mark.parametrize(("sleep_s", "status"), [(5.0, 503), (0.02, 200)])
def test_integration_timeout(sleep_s: float, status: int) -> None:
    with TestClient(LimitsApp().gateway(integration_timeout_s=0.3)) as client:
        started = time.monotonic()
        response = client.get("/svc/sleep", params={"s": sleep_s})
        elapsed = time.monotonic() - started
    assert response.status_code == status
    if status == 503:
        assert response.json() == TIMED_OUT
        assert elapsed < 2
    else:
        assert response.json() == {"slept": sleep_s}


def test_the_timeout_does_not_wait_for_a_service_stuck_in_a_thread() -> None:
    service = LimitsApp()
    with TestClient(service.gateway(integration_timeout_s=0.2)) as client:
        started = time.monotonic()
        response = client.get("/svc/blocked")
        elapsed = time.monotonic() - started
        service.release.set()  # lets the abandoned call finish before the client closes
    assert (response.status_code, response.json()) == (503, TIMED_OUT)
    assert elapsed < 2


def test_the_timeout_defaults_to_the_http_api_quota() -> None:
    default = inspect.signature(LocalGateway).parameters["integration_timeout_s"].default
    assert default == HTTP_API_INTEGRATION_TIMEOUT_S == 30.0


def test_a_service_error_still_surfaces_as_before() -> None:
    with TestClient(LimitsApp().gateway(), raise_server_exceptions=False) as client:
        response = client.get("/svc/broken")
    assert response.status_code == 500
    with TestClient(LimitsApp().gateway()) as client, pytest.raises(RuntimeError, match="bug"):
        client.get("/svc/broken")
