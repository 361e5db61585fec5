"""Each service role's IAM policy: only the actions it needs, only on its own resources."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from control_plane.services import STEERING_SNAPSHOT_PREFIX

TABLE_WRITE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
TABLE_READ_ACTIONS = TABLE_WRITE_ACTIONS[:5]
USER_POOL_ACTIONS = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminConfirmSignUp",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminInitiateAuth",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:AdminUserGlobalSignOut",
)


class ServiceGrants(BaseModel):
    """The resolved ARNs one service may touch (filled from the stack's resource outputs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    own_table_arns: tuple[str, ...] = ()
    read_table_arns: tuple[str, ...] = ()
    origin_bucket_arn: str | None = None
    manifest_bucket_arn: str | None = None
    manifest_read_bucket_arn: str | None = None
    # The manifest bucket's ARN when the service writes (or only reads) `steering/` in it.
    steering_snapshot_write_bucket_arn: str | None = None
    steering_snapshot_read_bucket_arn: str | None = None
    user_pool_arn: str | None = None
    # The payment secret (billing only).
    payment_secret_arn: str | None = None
    # The service's fan-out queues: its job sends to them, its workers consume them.
    fan_out_queue_arns: tuple[str, ...] = ()
    metric_namespaces: tuple[str, ...] = ()
    secret_arn: str
    kms_key_arn: str
    dead_letter_queue_arn: str
    log_group_arn: str


def _tables(arns: Sequence[str]) -> list[str]:
    return [resource for arn in arns for resource in (arn, f"{arn}/index/*")]


def service_policy_document(grants: ServiceGrants) -> str:
    """The policy JSON; every statement names its actions and ARNs (no wildcard actions)."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [grants.log_group_arn, f"{grants.log_group_arn}:log-stream:*"],
        },
        {
            "Sid": "ReadServiceSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [grants.secret_arn],
        },
        {
            "Sid": "UseStackKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [grants.kms_key_arn],
        },
        {
            "Sid": "SendToOwnDeadLetterQueue",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [grants.dead_letter_queue_arn],
        },
    ]
    if grants.own_table_arns:
        statements.append(
            {
                "Sid": "OwnTables",
                "Effect": "Allow",
                "Action": list(TABLE_WRITE_ACTIONS),
                "Resource": _tables(grants.own_table_arns),
            }
        )
    if grants.read_table_arns:
        statements.append(
            {
                "Sid": "ReadOtherServicesTables",
                "Effect": "Allow",
                "Action": list(TABLE_READ_ACTIONS),
                "Resource": _tables(grants.read_table_arns),
            }
        )
    if grants.origin_bucket_arn:
        statements.append(
            {
                "Sid": "ReadOrigin",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [grants.origin_bucket_arn, f"{grants.origin_bucket_arn}/*"],
            }
        )
    if grants.manifest_bucket_arn:
        statements.append(
            {
                "Sid": "WriteManifests",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                "Resource": [grants.manifest_bucket_arn, f"{grants.manifest_bucket_arn}/*"],
            }
        )
    if grants.manifest_read_bucket_arn and not grants.manifest_bucket_arn:
        statements.append(
            {
                "Sid": "ReadManifests",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [
                    grants.manifest_read_bucket_arn,
                    f"{grants.manifest_read_bucket_arn}/*",
                ],
            }
        )
    statements.extend(_steering_snapshot_statements(grants))
    if grants.payment_secret_arn:
        statements.append(
            {
                "Sid": "ReadPaymentSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [grants.payment_secret_arn],
            }
        )
    if grants.fan_out_queue_arns:
        statements.append(
            {
                "Sid": "UseOwnFanOutQueues",
                "Effect": "Allow",
                "Action": [
                    "sqs:SendMessage",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                "Resource": list(grants.fan_out_queue_arns),
            }
        )
    if grants.user_pool_arn:
        statements.append(
            {
                "Sid": "ManageSubscribers",
                "Effect": "Allow",
                "Action": list(USER_POOL_ACTIONS),
                "Resource": [grants.user_pool_arn],
            }
        )
    if grants.metric_namespaces:
        # PutMetricData has no resource-level permissions: the namespace condition scopes it.
        statements.append(
            {
                "Sid": "PublishOwnMetrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"cloudwatch:namespace": list(grants.metric_namespaces)}
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _steering_snapshot_statements(grants: ServiceGrants) -> list[dict[str, object]]:
    """Object access under `steering/` only, and listing of that prefix only."""
    bucket = grants.steering_snapshot_write_bucket_arn or grants.steering_snapshot_read_bucket_arn
    if bucket is None:
        return []
    writes = grants.steering_snapshot_write_bucket_arn is not None
    return [
        {
            "Sid": "WriteSteeringSnapshot" if writes else "ReadSteeringSnapshot",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
            if writes
            else ["s3:GetObject"],
            "Resource": [f"{bucket}/{STEERING_SNAPSHOT_PREFIX}/*"],
        },
        {
            "Sid": "ListSteeringSnapshot",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket],
            "Condition": {"StringLike": {"s3:prefix": [f"{STEERING_SNAPSHOT_PREFIX}/*"]}},
        },
    ]
