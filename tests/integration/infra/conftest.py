"""Shared by the infra integration tests: one materialized stack per module, and its settings."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from control_plane.common.settings import Environment, ServiceSettings
from control_plane.services import all_services
from lab.moto_materialize import MaterializedStack, materialize_stack
from tests.support.aws import MotoServer
from tests.unit.infra.harness import TEST_SERVICES

REGION = "us-east-1"
SERVICES = (*all_services(), *TEST_SERVICES)


def new_prefix() -> str:
    return "m" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def materialized(moto_server: MotoServer) -> MaterializedStack:
    """One materialization per module: running the whole program costs seconds on 2 cores."""
    return materialize_stack(
        endpoint_url=moto_server.endpoint_url,
        name_prefix=new_prefix(),
        region=REGION,
        services=SERVICES,
    )


def client(moto_server: MotoServer, service: Any) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=moto_server.endpoint_url)


def settings_for(stack: MaterializedStack, moto_server: MotoServer) -> ServiceSettings:
    exports = stack.exports
    return ServiceSettings(
        environment=Environment.DEVELOPMENT,
        aws_region=REGION,
        aws_endpoint_url=moto_server.endpoint_url,
        name_prefix=exports["name_prefix"],
        origin_bucket=exports["origin_bucket"],
        manifest_bucket=exports["manifest_bucket"],
        user_pool_id=exports["user_pool_id"],
        user_pool_client_id=exports["user_pool_client_id"],
    )
