"""The Pulumi program materialized in moto: the resources exist as declared, and code runs on them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.services import all_services
from infra.errors import MaterializeError
from infra.lambda_service import SQS_MESSAGE_MAX_BYTES
from lab.aws_limits import SQS_MESSAGE_MAX_BYTES as LAB_SQS_MESSAGE_MAX_BYTES
from lab.moto_materialize import (
    MaterializedStack,
    materialize_stack,
    record_blueprint,
    replay_blueprint,
)
from tests.integration.infra.conftest import REGION, SERVICES, client, new_prefix, settings_for
from tests.support.aws import MotoServer
from tests.unit.infra.harness import TEST_SERVICES


def test_every_declared_table_exists_with_its_spec(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    dynamodb = client(moto_server, "dynamodb")
    prefix = materialized.exports["name_prefix"]
    for spec in (table for service in SERVICES for table in service.tables):
        table = dynamodb.describe_table(TableName=f"{prefix}-{spec.name}")["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        assert keys["HASH"] == spec.hash_key.name
        assert keys.get("RANGE") == (spec.range_key.name if spec.range_key else None)
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == {
            i.name for i in spec.indexes
        }
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["SSEType"] == "KMS"
        backups = dynamodb.describe_continuous_backups(TableName=table["TableName"])
        assert (
            backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
                "PointInTimeRecoveryStatus"
            ]
            == "ENABLED"
        )
        ttl = dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == spec.ttl_attribute


def test_buckets_are_versioned_encrypted_blocked_and_usable(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    s3 = client(moto_server, "s3")
    key_arn = materialized.exports["kms_key_arn"]
    for bucket in (materialized.exports["origin_bucket"], materialized.exports["manifest_bucket"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }
        assert all(
            s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()
        )
        [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        # The TLS-only deny is the one thing not carried into moto (plain HTTP on loopback).
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="t/probe", Body=b"bytes")
        assert s3.get_object(Bucket=bucket, Key="t/probe")["Body"].read() == b"bytes"


def test_queues_pool_client_and_secret_exist_as_declared(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    prefix = materialized.exports["name_prefix"]
    sqs = client(moto_server, "sqs")
    for service in SERVICES:
        url = sqs.get_queue_url(QueueName=f"{prefix}-{service.name}-dlq")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["KmsMasterKeyId"] == materialized.exports["kms_key_arn"]
        assert attributes["MessageRetentionPeriod"] == str(14 * 86400)
        # Held to the design's 256 KiB, the figure the lab's limits use too.
        assert attributes["MaximumMessageSize"] == str(SQS_MESSAGE_MAX_BYTES)
    assert SQS_MESSAGE_MAX_BYTES == LAB_SQS_MESSAGE_MAX_BYTES == 262_144
    cognito = client(moto_server, "cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=materialized.exports["user_pool_id"])["UserPool"]
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["UsernameAttributes"] == ["email"]
    app_client = cognito.describe_user_pool_client(
        UserPoolId=pool["Id"], ClientId=materialized.exports["user_pool_client_id"]
    )["UserPoolClient"]
    assert (app_client["AccessTokenValidity"], app_client["RefreshTokenValidity"]) == (60, 30)
    secrets = client(moto_server, "secretsmanager")
    value = json.loads(
        secrets.get_secret_value(SecretId=materialized.exports["service_secrets_arn"])[
            "SecretString"
        ]
    )
    assert set(value) == {"url_signing_secret", "admin_token", "session_secret"} and all(
        len(v) == 48 for v in value.values()
    )


def test_service_code_runs_against_the_materialized_tables(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    settings = settings_for(materialized, moto_server)
    widgets = next(s for s in SERVICES if s.name == "widgets")
    with TestClient(widgets.create_app(settings)) as api:
        body = {"widget_id": "w1", "version": 3, "owner": "ops"}
        assert api.put("/widgets/v1/w1", json=body).status_code == 200
        assert api.get("/widgets/v1/w1/3").json() == body
    job = widgets.jobs[0]
    module, _, function = job.function.partition(":")
    assert __import__(module, fromlist=[function]).__dict__[function](settings) == {
        "widgets_of_ops": 1
    }


@pytest.mark.parametrize("service", [s for s in all_services() if s.has_app], ids=lambda s: s.name)
def test_every_registered_app_starts_on_the_materialized_stack(
    materialized: MaterializedStack, moto_server: MotoServer, service: Any
) -> None:
    with TestClient(service.create_app(settings_for(materialized, moto_server))) as api:
        assert api.get("/healthz").status_code == 200


def _describe(moto_server: MotoServer, exports: dict[str, Any]) -> dict[str, Any]:
    """Everything that should be equal between two stacks, with the prefix taken out."""
    prefix = exports["name_prefix"]
    dynamodb, s3 = client(moto_server, "dynamodb"), client(moto_server, "s3")
    tables = {}
    for logical, name in exports["table_names"].items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        tables[logical] = {
            "keys": table["KeySchema"],
            "attributes": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            "indexes": sorted(
                (i["IndexName"], json.dumps(i["KeySchema"]))
                for i in table.get("GlobalSecondaryIndexes", [])
            ),
            "ttl": dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"].get(
                "AttributeName"
            ),
        }
    buckets = {}
    for kind in ("origin_bucket", "manifest_bucket"):
        bucket = exports[kind]
        buckets[kind] = {
            "versioning": s3.get_bucket_versioning(Bucket=bucket)["Status"],
            "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
            "block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        }
    pool = client(moto_server, "cognito-idp").describe_user_pool(
        UserPoolId=exports["user_pool_id"]
    )["UserPool"]
    return {
        "tables": tables,
        "buckets": buckets,
        "password": pool["Policies"]["PasswordPolicy"],
        "exports": sorted(k for k in exports if k != "name_prefix"),
        "prefix_free_names": sorted(
            v.replace(prefix, "P") for v in exports["table_names"].values()
        ),
    }


def test_replaying_the_blueprint_builds_what_the_program_builds(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    blueprint = record_blueprint(region=REGION, services=SERVICES)
    replayed = replay_blueprint(
        blueprint, endpoint_url=moto_server.endpoint_url, name_prefix=new_prefix()
    )
    assert _describe(moto_server, dict(replayed.exports)) == _describe(
        moto_server, dict(materialized.exports)
    )
    # Every reference was rewired to what moto created (no synthesized or placeholder ids left).
    flat = json.dumps(replayed.exports)
    assert "zqblueprintzq" not in flat and "-AbCdEf" not in flat


def test_materializing_over_an_existing_stack_fails_clearly(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    with pytest.raises(MaterializeError, match=r"moto refused aws:\S+ .*already exists"):
        materialize_stack(
            endpoint_url=moto_server.endpoint_url,
            name_prefix=materialized.exports["name_prefix"],
            region=REGION,
            services=SERVICES,
        )


def test_an_unreachable_moto_fails_with_the_endpoint_named() -> None:
    with pytest.raises(MaterializeError, match=r"is the moto server at http://127.0.0.1:9 up"):
        materialize_stack(
            endpoint_url="http://127.0.0.1:9",
            name_prefix=new_prefix(),
            region=REGION,
            services=TEST_SERVICES,
        )
