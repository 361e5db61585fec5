"""Test AWS: one moto server per test process on loopback, and per-test resources in it.

Each test gets its own name prefix, so its tables and buckets are its own even though the
server is shared by the tests of one xdist worker (which run one at a time). The resources
come from the Pulumi program (lab.moto_materialize); create_table and create_user_pool
remain for tests that want one extra resource of their own.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from control_plane.common.settings import Environment, ServiceSettings
from control_plane.common.tables import TableSpec
from control_plane.services import all_services
from lab.moto_materialize import Blueprint, record_blueprint, replay_blueprint

REGION = "us-east-1"


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str


def start_moto_server() -> Iterator[MotoServer]:
    # moto checks no credentials, but boto3 needs some, and none must reach real AWS.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


def create_table(*, settings: ServiceSettings, spec: TableSpec) -> None:
    """Create one table from its spec, the same spec infra/ turns into aws.dynamodb.Table."""
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=settings.aws_endpoint_url)
    key_schema = [{"AttributeName": spec.hash_key.name, "KeyType": "HASH"}]
    if spec.range_key is not None:
        key_schema.append({"AttributeName": spec.range_key.name, "KeyType": "RANGE"})
    kwargs: dict[str, object] = {
        "TableName": settings.table_name(spec.name),
        "KeySchema": key_schema,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in spec.attributes().items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.hash_key.name, "KeyType": "HASH"}]
                + (
                    [{"AttributeName": index.range_key.name, "KeyType": "RANGE"}]
                    if index.range_key
                    else []
                ),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in spec.indexes
        ]
    client.create_table(**kwargs)  # type: ignore[arg-type]


def provision_test_stack(server: MotoServer) -> ServiceSettings:
    """A fresh prefix with the stack's tables, buckets and user pool, made by the Pulumi program.

    The program (infra/) runs once per process under recording mocks; each test's stack is
    that blueprint replayed into moto under its own prefix, so tests run against exactly the
    schema `pulumi up` creates (tests/integration/infra holds the replay equal to the program).
    """
    prefix = "t" + uuid.uuid4().hex[:12]
    stack = replay_blueprint(_blueprint(), endpoint_url=server.endpoint_url, name_prefix=prefix)
    return ServiceSettings(
        environment=Environment.DEVELOPMENT,
        aws_region=REGION,
        aws_endpoint_url=server.endpoint_url,
        name_prefix=prefix,
        origin_bucket=stack.exports["origin_bucket"],
        manifest_bucket=stack.exports["manifest_bucket"],
        user_pool_id=stack.exports["user_pool_id"],
        user_pool_client_id=stack.exports["user_pool_client_id"],
        kms_key_id=stack.exports["kms_key_arn"],
        admin_token=SecretStr("test-admin-token-0123456789"),
        url_signing_secret=SecretStr("test-url-signing-secret-0123"),
        session_secret=SecretStr("test-playback-session-secret-0123"),
    )


@functools.cache
def _blueprint() -> Blueprint:
    return record_blueprint(region=REGION, services=all_services())


def create_user_pool(settings: ServiceSettings) -> ServiceSettings:
    """A Cognito user pool and app client like infra's (email usernames, password auth)."""
    cognito = boto3.client(
        "cognito-idp", region_name=REGION, endpoint_url=settings.aws_endpoint_url
    )
    pool_id = cognito.create_user_pool(
        PoolName=f"{settings.name_prefix}-subscribers",
        UsernameAttributes=["email"],
        AutoVerifiedAttributes=["email"],
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"{settings.name_prefix}-web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        GenerateSecret=False,
    )["UserPoolClient"]["ClientId"]
    return settings.model_copy(update={"user_pool_id": pool_id, "user_pool_client_id": client_id})
