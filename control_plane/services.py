"""The service registry: every control-plane service, its app, tables and routes, in one place.

infra/ builds one Lambda and its routes per entry; the lab runs one uvicorn app per entry.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control_plane.common.tables import TableSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

    from control_plane.common.settings import ServiceSettings


# The key prefix of the steering snapshot in the manifest bucket: its job writes only there and
# playback reads only there (control_plane.steering.snapshot_store; infra's access policy).
STEERING_SNAPSHOT_PREFIX = "steering"


# The environment variable naming the stack's payment secret in a function of a service that
# `uses_payment_secret` (control_plane.billing.providers reads it; infra sets it).
# bandit B105: an environment variable's name.
PAYMENT_SECRET_ENV = "EDGEFILL_PAYMENT_SECRET_ARN"  # nosec B105


class RouteAuth(StrEnum):
    """Who may call a route prefix; API Gateway puts the matching authorizer in front of it."""

    PUBLIC = "public"
    SUBSCRIBER = "subscriber"  # Cognito JWT
    APPLIANCE = "appliance"  # per-appliance credential, checked in the app
    ADMIN = "admin"  # operator token, checked in the app


class RoutePrefix(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(pattern=r"^/[a-z0-9/-]*$")
    auth: RouteAuth


class ScheduledJob(BaseModel):
    """A batch function EventBridge calls on a schedule (the lab calls it from a local timer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]+$")
    function: str = Field(description="'module:function' taking (settings) and returning a dict")
    schedule: str = Field(description="EventBridge expression, e.g. 'cron(0 0 * * ? *)'")


class FanOutQueue(BaseModel):
    """Work a job splits into one message per unit (e.g. per cluster), each handled alone.

    In AWS an SQS queue feeds a worker function one message at a time; a message whose handler
    fails is retried (`max_receives` times in all), then kept in the service's dead-letter
    queue, and the other messages carry on. Without a queue (the lab, the tests) the job calls
    the same handler for each message in turn (control_plane.common.fan_out).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]+$")
    handler: str = Field(description="'module:function' taking (settings, body: dict)")
    max_receives: int = Field(default=3, ge=1, le=10)
    # At least the worker's timeout (AWS's rule for a Lambda event source).
    visibility_timeout_s: int = Field(default=900, ge=30, le=43_200)


class ServiceSpec(BaseModel):
    """One deployable service: an HTTP app behind its routes, scheduled jobs, or both.

    A package that owns a job declares it in its own spec (placement's manifests, popularity's
    fold), even when it serves no routes: it then deploys as a job function only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]+$")
    app_factory: str | None = Field(
        default=None,
        description="'module:function' taking settings, returning FastAPI; None: jobs only",
    )
    tables: tuple[TableSpec, ...] = ()
    routes: tuple[RoutePrefix, ...] = ()
    jobs: tuple[ScheduledJob, ...] = ()
    fan_outs: tuple[FanOutQueue, ...] = ()
    reads_origin: bool = False
    writes_manifests: bool = False
    # Reads the manifest bucket only (serves manifests, or reads what appliances applied).
    reads_manifests: bool = False
    # Writes the steering snapshot (`steering/` in the manifest bucket; its job only).
    writes_steering_snapshot: bool = False
    # Reads the steering snapshot only (playback steers from it).
    reads_steering_snapshot: bool = False
    # Logical names of other services' tables this one reads (its IAM role may read them only).
    reads_tables: tuple[str, ...] = ()
    # Logical names of other services' tables this one also writes (read and write access).
    writes_tables: tuple[str, ...] = ()
    # Calls Cognito admin APIs on the subscriber pool (sign-up, confirm, sign-in, disable).
    uses_user_pool: bool = False
    # Reads the payment provider's credentials from the stack's payment secret (billing).
    uses_payment_secret: bool = False
    # CloudWatch namespaces it publishes metrics to (PutMetricData, limited to these).
    metric_namespaces: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _serves_or_runs_something(self) -> ServiceSpec:
        if self.app_factory is None and (self.routes or not self.jobs):
            raise ValueError(
                f"service {self.name!r}: routes need an app_factory, and a service without "
                "an app must declare at least one job"
            )
        if self.fan_outs and not self.jobs:
            raise ValueError(f"service {self.name!r}: a fan-out queue is fed by a job; it has none")
        return self

    @property
    def has_app(self) -> bool:
        return self.app_factory is not None

    def create_app(self, settings: ServiceSettings) -> FastAPI:
        if self.app_factory is None:
            raise ValueError(f"service {self.name!r} runs jobs only; it has no app to create")
        module_name, _, attr = self.app_factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        app: FastAPI = factory(settings)
        return app


def all_services() -> tuple[ServiceSpec, ...]:
    """Every service, imported lazily so that reading the registry needs no FastAPI."""
    return tuple(importlib.import_module(m).SERVICE for m in _SERVICE_MODULES)


# Each module named here defines `SERVICE: ServiceSpec` (its spec module imports no FastAPI).
_SERVICE_MODULES: tuple[str, ...] = (
    "control_plane.catalog.spec",
    "control_plane.auth.spec",
    "control_plane.billing.spec",
    "control_plane.recommendations.spec",
    "control_plane.playback.spec",
    "control_plane.fleet.spec",
    "control_plane.placement.spec",
    "control_plane.popularity.spec",
    "control_plane.steering.spec",
)


def all_tables() -> tuple[TableSpec, ...]:
    return tuple(table for service in all_services() for table in service.tables)
