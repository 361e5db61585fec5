"""moto enforces DynamoDB's item size and SQS's message size with AWS's errors; these show it.

The lab and the tests rely on moto for these two limits (lab.aws_limits), so a moto upgrade that
dropped or moved either would fail here. Where moto differs from AWS, a test pins the difference.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError

from lab.aws_limits import (
    DYNAMODB_ITEM_MAX_BYTES,
    HTTP_API_INTEGRATION_TIMEOUT_S,
    HTTP_API_PAYLOAD_MAX_BYTES,
    LAMBDA_REQUEST_MAX_BYTES,
    LAMBDA_RESPONSE_MAX_BYTES,
    SQS_MESSAGE_MAX_BYTES,
    SQS_QUOTA_MESSAGE_MAX_BYTES,
)
from tests.support.aws import REGION, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

    Table = tuple[DynamoDBClient, str]

# moto 5.2 refuses an item over 405,000 bytes (dynamodb/models/dynamo_type.py), a little under
# AWS's 400 KiB (409,600).
MOTO_ITEM_MAX_BYTES = 405_000

ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
ITEM_UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"


@pytest.mark.parametrize(
    ("value", "aws_figure"),
    [
        (HTTP_API_PAYLOAD_MAX_BYTES, 10_485_760),
        (HTTP_API_INTEGRATION_TIMEOUT_S, 30.0),
        (LAMBDA_REQUEST_MAX_BYTES, 6_291_456),
        (LAMBDA_RESPONSE_MAX_BYTES, 6_291_556),
        (DYNAMODB_ITEM_MAX_BYTES, 409_600),
        (SQS_MESSAGE_MAX_BYTES, 262_144),
        (SQS_QUOTA_MESSAGE_MAX_BYTES, 1_048_576),
    ],
)
def test_limits_are_the_figures_aws_states(value: float, aws_figure: float) -> None:
    assert value == aws_figure


# -- DynamoDB: 400 KB an item, names and values -------------------------------------------------


@pytest.fixture
def table(moto_server: MotoServer) -> Table:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server.endpoint_url)
    name = f"limits-{uuid.uuid4().hex[:12]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client, name


def item_of(total_bytes: int, key: str = "k") -> dict[str, dict[str, str]]:
    """An item whose attribute names and string values add up to `total_bytes` (ASCII)."""
    filler = total_bytes - len("pk") - len(key) - len("v")
    return {"pk": {"S": key}, "v": {"S": "x" * filler}}


def put(table: Table, item: dict[str, dict[str, str]]) -> None:
    client, name = table
    client.put_item(TableName=name, Item=item)


def test_an_item_over_400_kb_is_a_validation_exception(table: Table) -> None:
    with pytest.raises(ClientError) as caught:
        put(table, item_of(DYNAMODB_ITEM_MAX_BYTES + 1))
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", ITEM_TOO_LARGE)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_item_just_under_the_limit_is_stored(table: Table) -> None:
    # Just under moto's threshold, which is itself under AWS's (see the next test).
    put(table, item_of(MOTO_ITEM_MAX_BYTES))
    client, name = table
    stored = client.get_item(TableName=name, Key={"pk": {"S": "k"}})["Item"]
    assert len(stored["v"]["S"]) == MOTO_ITEM_MAX_BYTES - len("pkkv")


@pytest.mark.parametrize("total_bytes", [MOTO_ITEM_MAX_BYTES + 1, DYNAMODB_ITEM_MAX_BYTES])
def test_moto_refuses_items_aws_would_store(table: Table, total_bytes: int) -> None:
    # AWS stores an item of up to 409,600 bytes; moto refuses from 405,001. If moto moves to the
    # AWS figure this fails: then delete this test and the 405,000 above.
    with pytest.raises(ClientError, match=ITEM_TOO_LARGE):
        put(table, item_of(total_bytes))


def test_an_update_that_grows_an_item_over_the_limit_is_refused(table: Table) -> None:
    client, name = table
    put(table, item_of(300 * 1024))
    with pytest.raises(ClientError) as caught:
        client.update_item(
            TableName=name,
            Key={"pk": {"S": "k"}},
            UpdateExpression="SET w = :w",
            ExpressionAttributeValues={":w": {"S": "y" * (200 * 1024)}},
        )
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", ITEM_UPDATE_TOO_LARGE)


# -- SQS: 256 KiB a message (a queue's MaximumMessageSize; AWS's default is now 1 MiB) ------------


def queue(moto_server: MotoServer, max_message_bytes: int | None = None) -> tuple[SQSClient, str]:
    client = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server.endpoint_url)
    name = f"limits-{uuid.uuid4().hex[:12]}"
    if max_message_bytes is None:
        return client, client.create_queue(QueueName=name)["QueueUrl"]
    attributes: dict[QueueAttributeNameType, str] = {"MaximumMessageSize": str(max_message_bytes)}
    return client, client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def refusal(limit: int) -> str:
    return (
        f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
    )


def test_a_message_over_256_kib_is_refused_by_a_queue_that_declares_it(
    moto_server: MotoServer,
) -> None:
    client, url = queue(moto_server, SQS_MESSAGE_MAX_BYTES)
    with pytest.raises(ClientError) as caught:
        client.send_message(QueueUrl=url, MessageBody="x" * (SQS_MESSAGE_MAX_BYTES + 1))
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue",
        refusal(SQS_MESSAGE_MAX_BYTES),
    )


def test_a_message_of_256_kib_is_accepted(moto_server: MotoServer) -> None:
    client, url = queue(moto_server, SQS_MESSAGE_MAX_BYTES)
    client.send_message(QueueUrl=url, MessageBody="x" * SQS_MESSAGE_MAX_BYTES)
    received = client.receive_message(QueueUrl=url)["Messages"]
    assert len(received[0]["Body"]) == SQS_MESSAGE_MAX_BYTES


def test_a_queue_that_declares_no_size_holds_messages_to_1_mib_only(
    moto_server: MotoServer,
) -> None:
    # As AWS since August 2025; the project's queues declare no MaximumMessageSize, so nothing
    # holds their messages to the 256 KiB design figure.
    client, url = queue(moto_server)
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    assert attributes["Attributes"]["MaximumMessageSize"] == str(SQS_QUOTA_MESSAGE_MAX_BYTES)
    client.send_message(QueueUrl=url, MessageBody="x" * (SQS_MESSAGE_MAX_BYTES + 1))
    with pytest.raises(ClientError, match=re.escape(refusal(SQS_QUOTA_MESSAGE_MAX_BYTES))):
        client.send_message(QueueUrl=url, MessageBody="x" * (SQS_QUOTA_MESSAGE_MAX_BYTES + 1))
