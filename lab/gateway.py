"""A local stand-in for the API Gateway HTTP API: one ASGI app routing by prefix to each service.

API Gateway sends each route prefix to its service's Lambda with the path unchanged; this does
the same in one uvicorn process, so the lab and the tests call one base URL like a client would.
Hand-written rather than Starlette's `Mount` because `Mount` strips the prefix from the path,
and the services' routes include it.

The lab simulates clients in many ISPs from one host: a request may carry `X-Lab-Client-IP`,
which this gateway (and only it) turns into the connection's client address, as API Gateway
puts the caller's address in `requestContext.http.sourceIp`. Services never read the header.

It also holds each request to the limits of what it stands in for (`lab.aws_limits`), answering
over a limit as API Gateway does, before or instead of the service's own answer:

- request body over 10 MB (HTTP API payload quota): 413 `{"message":"Request Entity Too Large"}`,
  counted as the body streams in, with or without Content-Length; the service never sees it.
- Lambda request event over 6 MB (the body, base64 when binary, plus headers and path): 413 too.
- no response within the integration timeout (30 s): 503 `{"message":"Service Unavailable"}`.
- Lambda response over 6 MB, or no complete response: 502 `{"message":"Internal Server Error"}`.

To measure the response, the gateway buffers it, as API Gateway does with a Lambda's: nothing
reaches the client until the service has finished and the response has passed the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from control_plane.common.settings import ServiceSettings
from control_plane.services import ServiceSpec, all_services
from lab.aws_limits import (
    HTTP_API_INTEGRATION_TIMEOUT_S,
    HTTP_API_PAYLOAD_MAX_BYTES,
    LAMBDA_REQUEST_MAX_BYTES,
    LAMBDA_RESPONSE_MAX_BYTES,
    lambda_event_bytes,
    lambda_response_bytes,
)

logger = logging.getLogger(__name__)

LAB_CLIENT_IP_HEADER = b"x-lab-client-ip"

# ASGI send extensions that bypass `http.response.body`; a Lambda has none, and the gateway must
# see every byte of the response to measure it.
_BYPASSING_SEND_EXTENSIONS = frozenset(
    {"http.response.pathsend", "http.response.zerocopysend", "http.response.trailers"}
)

# How the HTTP API answers over each limit. Sources, as checked (see also lab.aws_limits):
# - 413 over the 10 MB payload quota ("Quotas for ... an HTTP API": payload size 10 MB).
# - 413 for an event Lambda's Invoke refuses (RequestEntityTooLargeException, an HTTP 413):
#   observed on API Gateway as 413 `{"message": "Request Too Long"}` (koki-develop/
#   lgtm-generator#10, a REST API). The Lambda guide ("Handling Lambda errors with an API
#   Gateway API") says 500 when "the Lambda API rejects the invocation request"; no HTTP API
#   observation was found, so the lab keeps the observed 413.
# - 503 `{"message":"Service Unavailable"}` at the integration timeout: an HTTP API's answer
#   (cortexlabs/cortex#1225, with the HTTP API's `apigw-requestid`); REST APIs answer 504.
# - 502 when the function's response is too large: the Lambda guide says 502 when "the function
#   runs but returns an error, or returns a response in the wrong format", and the runtime fails
#   an oversized response (Function.ResponseSizeTooLarge; seen as 502 INTEGRATION_FAILURE in
#   DataBiosphere/azul#7466, a REST API). The body is the HTTP API's, per its troubleshooting
#   guide: `{"message":"Internal Server Error"}`.
_TOO_LARGE = (413, "Request Entity Too Large")
_TIMED_OUT = (503, "Service Unavailable")
_BAD_RESPONSE = (502, "Internal Server Error")


def _with_lab_client_ip(scope: Scope) -> Scope:
    """The scope with `client` replaced by the lab header's address, if a valid one is present."""
    for name, value in scope.get("headers", []):
        if name == LAB_CLIENT_IP_HEADER:
            try:
                address = str(ipaddress.ip_address(value.decode("ascii").strip()))
            except (UnicodeDecodeError, ValueError):
                return scope
            headers = [(n, v) for n, v in scope["headers"] if n != LAB_CLIENT_IP_HEADER]
            return {**scope, "client": (address, 0), "headers": headers}
    return scope


async def _answer(answer: tuple[int, str], scope: Scope, receive: Receive, send: Send) -> None:
    status, message = answer
    await JSONResponse({"message": message}, status_code=status)(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _ClientGone(Exception):
    """The client disconnected before its request body was complete."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as more than `limit` bytes have come."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@dataclass
class _BufferedResponse:
    """What a service sent, kept until it has finished; past `limit` body bytes, only counted."""

    limit: int
    start: Message | None = None
    chunks: list[bytes] = field(default_factory=list)
    body_bytes: int = 0
    complete: bool = False

    @property
    def over_limit(self) -> bool:
        return self.body_bytes > self.limit

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body" and not self.complete:
            chunk: bytes = message.get("body", b"")
            self.body_bytes += len(chunk)
            if self.over_limit:
                self.chunks.clear()
            else:
                self.chunks.append(chunk)
            self.complete = not message.get("more_body", False)

    def payload_bytes(self) -> int:
        if self.start is None or self.over_limit:
            return self.body_bytes
        return lambda_response_bytes(
            status=self.start["status"],
            headers=self.start.get("headers", []),
            body=b"".join(self.chunks),
        )


@dataclass(frozen=True)
class _Route:
    prefix: str
    service: str
    app: FastAPI


class LocalGateway:
    """Longest-prefix routing of HTTP requests to service apps; 404 JSON for anything else.

    Each service app stands for one Lambda behind the HTTP API: the request is read whole and
    checked against the payload limits, the app runs with at most `integration_timeout_s`, and
    its response is buffered and checked before it is sent. asyncio, as under uvicorn.
    """

    def __init__(
        self,
        routes: Sequence[_Route],
        *,
        integration_timeout_s: float = HTTP_API_INTEGRATION_TIMEOUT_S,
    ) -> None:
        self._routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self._integration_timeout_s = integration_timeout_s
        # Services still running after the gateway gave up on them, as a Lambda goes on after
        # API Gateway times out; held so they are not collected mid-run.
        self._abandoned: set[asyncio.Task[None]] = set()

    @property
    def prefixes(self) -> list[tuple[str, str]]:
        return [(r.prefix, r.service) for r in self._routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Services run with lifespan off, as under Mangum in Lambda.
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope = _with_lab_client_ip(scope)
        path: str = scope.get("path", "")
        for route in self._routes:
            if path == route.prefix or path.startswith(route.prefix.rstrip("/") + "/"):
                if scope["type"] == "http":
                    await self._integrate(route, scope, receive, send)
                else:
                    await route.app(scope, receive, send)
                return
        response = JSONResponse(
            {"error": "not_found", "message": f"no service serves {path!r}"}, status_code=404
        )
        await response(scope, receive, send)

    async def _integrate(self, route: _Route, scope: Scope, receive: Receive, send: Send) -> None:
        """One request through the HTTP API's limits to `route`'s app, as to a Lambda."""
        path: str = scope.get("path", "")
        declared = _declared_length(scope)
        try:
            body = (
                None
                if declared is not None and declared > HTTP_API_PAYLOAD_MAX_BYTES
                else await _read_body(receive, HTTP_API_PAYLOAD_MAX_BYTES)
            )
        except _ClientGone:
            return
        if body is None:
            logger.warning(
                "gateway: %s %s: body over %d bytes (HTTP API payload quota); 413",
                scope["method"],
                path,
                HTTP_API_PAYLOAD_MAX_BYTES,
            )
            await _answer(_TOO_LARGE, scope, receive, send)
            return
        event_bytes = lambda_event_bytes(
            method=scope["method"],
            path=path,
            query_string=scope.get("query_string", b""),
            headers=scope.get("headers", []),
            body=body,
        )
        if event_bytes > LAMBDA_REQUEST_MAX_BYTES:
            logger.warning(
                "gateway: %s %s: Lambda event of %d bytes is over %d; 413",
                scope["method"],
                path,
                event_bytes,
                LAMBDA_REQUEST_MAX_BYTES,
            )
            await _answer(_TOO_LARGE, scope, receive, send)
            return

        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        extensions = {
            name: value
            for name, value in scope.get("extensions", {}).items()
            if name not in _BYPASSING_SEND_EXTENSIONS
        }
        response = _BufferedResponse(limit=LAMBDA_RESPONSE_MAX_BYTES)
        task = asyncio.ensure_future(
            route.app({**scope, "extensions": extensions}, replay, response.send)
        )
        try:
            await asyncio.wait({task}, timeout=self._integration_timeout_s)
        finally:
            if not task.done():
                self._abandon(task)
        if not task.done():
            logger.warning(
                "gateway: %s %s: %s gave no answer within %.3g s (integration timeout); 503",
                scope["method"],
                path,
                route.service,
                self._integration_timeout_s,
            )
            await _answer(_TIMED_OUT, scope, receive, send)
            return
        error = task.exception()
        await self._relay(route, scope, receive, send, response, failed=error is not None)
        if error is not None:
            raise error

    async def _relay(
        self,
        route: _Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        response: _BufferedResponse,
        *,
        failed: bool,
    ) -> None:
        """Send the buffered response if it is complete and within Lambda's limit, else 502."""
        path: str = scope.get("path", "")
        if response.start is None or not response.complete:
            if failed:
                return  # the service raised before answering; the server answers 500, as now
            logger.warning(
                "gateway: %s %s: %s returned no complete response; 502",
                scope["method"],
                path,
                route.service,
            )
            await _answer(_BAD_RESPONSE, scope, receive, send)
            return
        payload_bytes = response.payload_bytes()
        if payload_bytes > LAMBDA_RESPONSE_MAX_BYTES:
            logger.warning(
                "gateway: %s %s: %s's response of %d bytes is over Lambda's %d; 502",
                scope["method"],
                path,
                route.service,
                payload_bytes,
                LAMBDA_RESPONSE_MAX_BYTES,
            )
            await _answer(_BAD_RESPONSE, scope, receive, send)
            return
        await send(response.start)
        await send({"type": "http.response.body", "body": b"".join(response.chunks)})

    def _abandon(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("gateway: an abandoned service call failed", exc_info=task.exception())


def build_gateway(
    settings: ServiceSettings,
    services: Sequence[ServiceSpec] | None = None,
    *,
    integration_timeout_s: float = HTTP_API_INTEGRATION_TIMEOUT_S,
) -> LocalGateway:
    """One app per service, each reachable under every route prefix the service declares."""
    routes: list[_Route] = []
    for spec in services if services is not None else all_services():
        if not spec.has_app:
            continue  # jobs only: the lab's scheduler runs them (lab.control_plane.run_job)
        app = spec.create_app(settings)
        routes.extend(_Route(prefix=r.prefix, service=spec.name, app=app) for r in spec.routes)
    return LocalGateway(routes, integration_timeout_s=integration_timeout_s)


def create_gateway_from_env() -> LocalGateway:
    """uvicorn factory: `uvicorn --factory lab.gateway:create_gateway_from_env`."""
    return build_gateway(ServiceSettings())
