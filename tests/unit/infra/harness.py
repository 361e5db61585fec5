"""Shared by the infra tests: the example stack config, two test services, a mocked run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from control_plane.common import aws
from control_plane.common.app_factory import create_service_app
from control_plane.common.settings import ServiceSettings
from control_plane.common.tables import GlobalIndex, KeyAttribute, TableSpec
from control_plane.services import (
    FanOutQueue,
    RouteAuth,
    RoutePrefix,
    ScheduledJob,
    ServiceSpec,
    all_services,
)
from infra.config import load_stack_config
from infra.stack import build_control_plane
from lab.pulumi_mocks import RecordingMocks, ResourceGraph, run_program, stack_config_from_yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
DEV_STACK_FILE = REPO_ROOT / "Pulumi.dev.yaml"
# Under mocks the archive is only a path: the engine never opens it.
MOCK_ARCHIVE = "/nonexistent/control-plane.zip"

# A service with one of everything the registry can declare.
WIDGETS = ServiceSpec(
    name="widgets",
    app_factory="tests.unit.infra.harness:widgets_app",
    tables=(
        TableSpec(
            name="widgets",
            hash_key=KeyAttribute(name="widget_id"),
            range_key=KeyAttribute(name="version", type="N"),
            indexes=(GlobalIndex(name="by-owner", hash_key=KeyAttribute(name="owner")),),
            ttl_attribute="expires_at",
        ),
    ),
    routes=(
        RoutePrefix(prefix="/widgets/v1", auth=RouteAuth.SUBSCRIBER),
        RoutePrefix(prefix="/widgets/admin", auth=RouteAuth.ADMIN),
    ),
    jobs=(
        ScheduledJob(
            name="nightly",
            function="tests.unit.infra.harness:count_widgets",
            schedule="cron(0 1 * * ? *)",
        ),
    ),
    reads_origin=True,
    writes_manifests=True,
    uses_user_pool=True,
    metric_namespaces=("Edgefill/Widgets",),
)
# A plain service that reads the other's table and has no jobs.
GADGETS = ServiceSpec(
    name="gadgets",
    app_factory="tests.unit.infra.harness:widgets_app",
    tables=(TableSpec(name="gadgets", hash_key=KeyAttribute(name="gadget_id")),),
    routes=(RoutePrefix(prefix="/gadgets", auth=RouteAuth.APPLIANCE),),
    reads_tables=("widgets",),
)
# Writes the widgets table (beside its owner) and owns nothing.
SPROCKETS = ServiceSpec(
    name="sprockets",
    app_factory="tests.unit.infra.harness:widgets_app",
    routes=(RoutePrefix(prefix="/sprockets", auth=RouteAuth.PUBLIC),),
    writes_tables=("widgets",),
)
# Jobs only (like placement): no app, so no HTTP function and no routes; its job fans out.
GEARS = ServiceSpec(
    name="gears",
    jobs=(
        ScheduledJob(
            name="turn",
            function="tests.unit.infra.harness:count_widgets",
            schedule="rate(1 hour)",
        ),
    ),
    fan_outs=(FanOutQueue(name="teeth", handler="tests.unit.infra.harness:mesh_tooth"),),
    reads_tables=("widgets",),
)
TEST_SERVICES = (WIDGETS, GADGETS, SPROCKETS, GEARS)


def dev_config(**overrides: str) -> dict[str, str]:
    """Pulumi.dev.yaml as the engine would pass it, with some keys replaced."""
    return {**stack_config_from_yaml(DEV_STACK_FILE), **overrides}


def run_stack(
    *,
    services: Sequence[ServiceSpec] = TEST_SERVICES,
    config: Mapping[str, str] | None = None,
    mocks: RecordingMocks | None = None,
) -> ResourceGraph:
    """The whole program under mocks, with the registry replaced by `services`."""
    config = dict(config if config is not None else dev_config())
    mocks = mocks or RecordingMocks(region=config.get("aws:region", "us-east-1"))

    def program() -> Mapping[str, object]:
        plane = build_control_plane(
            config=load_stack_config(), services=services, archive_path=MOCK_ARCHIVE
        )
        return plane.outputs()

    return run_program(program, mocks=mocks, config=config)


def registered_and_test_services() -> tuple[ServiceSpec, ...]:
    return (*all_services(), *TEST_SERVICES)


class Widget(BaseModel):
    widget_id: str
    version: int
    owner: str


def widgets_app(settings: ServiceSettings) -> FastAPI:
    """The test services' app: stores and reads widgets in the table the stack created."""
    router = APIRouter()
    table = aws.dynamodb(settings).Table(settings.table_name("widgets"))

    @router.put("/widgets/v1/{widget_id}")
    def put_widget(widget_id: str, widget: Widget) -> Widget:
        table.put_item(Item=widget.model_dump())
        return widget

    @router.get("/widgets/v1/{widget_id}/{version}")
    def get_widget(widget_id: str, version: int) -> Widget:
        item = table.get_item(Key={"widget_id": widget_id, "version": version})["Item"]
        return Widget.model_validate(item)

    return create_service_app(service="widgets", settings=settings, routers=[router])


def count_widgets(settings: ServiceSettings) -> dict[str, int]:
    """The test service's scheduled job: counts widgets by owner through the GSI."""
    table = aws.dynamodb(settings).Table(settings.table_name("widgets"))
    found = table.query(
        IndexName="by-owner",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": "ops"},
    )
    return {"widgets_of_ops": len(found["Items"])}


def mesh_tooth(settings: ServiceSettings, body: dict[str, object]) -> dict[str, object]:
    """The test fan-out's handler: a tooth that is asked to fail fails."""
    if body.get("fail"):
        raise RuntimeError(f"tooth {body.get('tooth')} broke")
    return {"tooth": body.get("tooth")}
