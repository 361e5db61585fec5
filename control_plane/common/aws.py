"""boto3 clients built from the service settings, pointed at moto when an endpoint is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_s3.client import S3Client

_BOTO_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=3)


def _kwargs(settings: ServiceSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": settings.aws_region, "config": _BOTO_CONFIG}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return kwargs


def dynamodb(settings: ServiceSettings) -> DynamoDBServiceResource:
    return boto3.resource("dynamodb", **_kwargs(settings))


def s3(settings: ServiceSettings) -> S3Client:
    return boto3.client("s3", **_kwargs(settings))
