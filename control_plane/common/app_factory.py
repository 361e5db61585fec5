"""The one FastAPI app factory every service uses: errors, body limits, health route."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from control_plane.common.errors import ControlPlaneError, PayloadTooLarge
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every 4xx/5xx body: a stable code and a message a person can act on."""

    error: str
    message: str


class HealthBody(BaseModel):
    service: str
    status: str


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message})


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "request is invalid"


def create_service_app(
    *,
    service: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    version: str = "1",
) -> FastAPI:
    """A FastAPI app for `service` with the shared error mapping, body limit and /healthz."""
    app = FastAPI(
        title=f"edgefill {service}",
        version=version,
        responses={
            400: {"model": ErrorBody},
            413: {"model": ErrorBody},
            422: {"model": ErrorBody},
        },
    )
    app.state.settings = settings

    @app.exception_handler(ControlPlaneError)
    async def _on_domain_error(_: Request, exc: ControlPlaneError) -> JSONResponse:
        if exc.status_code >= 500:
            logger.error("%s: %s", exc.code, exc.message)
        return _error(exc.status_code, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", _describe_validation(exc))

    @app.middleware("http")
    async def _limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        declared = request.headers.get("content-length")
        limit = settings.max_body_bytes
        if declared is not None:
            if not declared.isdigit():
                return _error(400, "bad_request", "Content-Length is not a number")
            if int(declared) > limit:
                exc = PayloadTooLarge(f"request body over {limit} bytes; send less per request")
                return _error(exc.status_code, exc.code, exc.message)
        elif request.method in ("POST", "PUT", "PATCH"):
            body = await request.body()
            if len(body) > limit:
                return _error(413, "payload_too_large", f"request body over {limit} bytes")
        return await call_next(request)

    @app.get("/healthz", response_model=HealthBody, tags=["ops"])
    async def healthz() -> HealthBody:
        return HealthBody(service=service, status="ok")

    for router in routers:
        app.include_router(router)
    return app
