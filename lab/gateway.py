"""A local stand-in for the API Gateway HTTP API: one ASGI app routing by prefix to each service.

API Gateway sends each route prefix to its service's Lambda with the path unchanged; this does
the same in one uvicorn process, so the lab and the tests call one base URL like a client would.
Hand-written rather than Starlette's `Mount` because `Mount` strips the prefix from the path,
and the services' routes include it.

The lab simulates clients in many ISPs from one host: a request may carry `X-Lab-Client-IP`,
which this gateway (and only it) turns into the connection's client address, as API Gateway
puts the caller's address in `requestContext.http.sourceIp`. Services never read the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from control_plane.common.settings import ServiceSettings
from control_plane.services import ServiceSpec, all_services

LAB_CLIENT_IP_HEADER = b"x-lab-client-ip"


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


@dataclass(frozen=True)
class _Route:
    prefix: str
    service: str
    app: FastAPI


class LocalGateway:
    """Longest-prefix routing of HTTP requests to service apps; 404 JSON for anything else."""

    def __init__(self, routes: Sequence[_Route]) -> None:
        self._routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

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
                await route.app(scope, receive, send)
                return
        response = JSONResponse(
            {"error": "not_found", "message": f"no service serves {path!r}"}, status_code=404
        )
        await response(scope, receive, send)


def build_gateway(
    settings: ServiceSettings, services: Sequence[ServiceSpec] | None = None
) -> LocalGateway:
    """One app per service, each reachable under every route prefix the service declares."""
    routes: list[_Route] = []
    for spec in services if services is not None else all_services():
        app = spec.create_app(settings)
        routes.extend(_Route(prefix=r.prefix, service=spec.name, app=app) for r in spec.routes)
    return LocalGateway(routes)


def create_gateway_from_env() -> LocalGateway:
    """uvicorn factory: `uvicorn --factory lab.gateway:create_gateway_from_env`."""
    return build_gateway(ServiceSettings())
