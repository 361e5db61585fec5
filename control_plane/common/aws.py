"""boto3 clients built from the service settings, pointed at moto when an endpoint is set."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.common.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cognito_idp.client import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

logger = logging.getLogger(__name__)

_BOTO_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=3)


def _kwargs(settings: ServiceSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": settings.aws_region, "config": _BOTO_CONFIG}
    if settings.aws_endpoint_url:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return kwargs


def dynamodb(settings: ServiceSettings) -> DynamoDBServiceResource:
    return boto3.resource("dynamodb", **_kwargs(settings))


def dynamodb_table(
    settings: ServiceSettings, spec: TableSpec, *, resource: DynamoDBServiceResource | None = None
) -> Table:
    """The stack's table for `spec`: every store opens its table through this one function."""
    return (resource or dynamodb(settings)).Table(settings.table_name(spec.name))


def s3(settings: ServiceSettings) -> S3Client:
    return boto3.client("s3", **_kwargs(settings))


def s3_presigner(settings: ServiceSettings) -> S3Client:
    """An S3 client for presigning GETs: SigV4 explicitly (botocore still presigns S3 with
    SigV2 in us-east-1 by default, which AWS no longer accepts from new buckets)."""
    kwargs = _kwargs(settings)
    kwargs["config"] = _BOTO_CONFIG.merge(Config(signature_version="s3v4"))
    return boto3.client("s3", **kwargs)


def secretsmanager(settings: ServiceSettings) -> Any:
    """Untyped: the project does not pin Secrets Manager's type stubs (one call uses it)."""
    return boto3.client("secretsmanager", **_kwargs(settings))


def kms(settings: ServiceSettings) -> Any:
    """Untyped: the project does not pin KMS's type stubs (two calls use it)."""
    return boto3.client("kms", **_kwargs(settings))


def sqs(settings: ServiceSettings) -> SQSClient:
    return boto3.client("sqs", **_kwargs(settings))


def cognito_idp(settings: ServiceSettings) -> CognitoIdentityProviderClient:
    return boto3.client("cognito-idp", **_kwargs(settings))


def cloudwatch(settings: ServiceSettings) -> CloudWatchClient:
    return boto3.client("cloudwatch", **_kwargs(settings))


@contextmanager
def unavailable_on_aws_error(doing: str) -> Iterator[None]:
    """Turn an unexpected AWS failure into Unavailable (503) saying what could not be done.

    Expected conditions (a failed condition check, a missing item) are handled by the caller
    inside the block; whatever escapes is an outage from the caller's point of view.
    """
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        logger.error("AWS call failed while trying to %s: %s", doing, exc)
        raise Unavailable(f"could not {doing} just now; retry shortly") from exc
