"""The stack's shared base: its KMS key (with the service grants it needs) and its alarm topic."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SharedBaseArgs:
    name_prefix: str
    region: str
    account_id: pulumi.Input[str]
    alarm_email: str
    tags: dict[str, str]


def key_policy(*, account_id: str, region: str, name_prefix: str) -> str:
    """The key policy: the account administers it; logs, alarms and schedules may use it."""
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    statements = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "LogGroupsOfThisStack",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": use,
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:aws:logs:{region}:{account_id}:log-group:*{name_prefix}*"
                    )
                }
            },
        },
        {
            "Sid": "AlarmsAndSchedulesPublish",
            "Effect": "Allow",
            "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class SharedBase(pulumi.ComponentResource):
    """KMS key + alias for everything the stack encrypts, and the SNS topic alarms notify."""

    key: aws.kms.Key
    alarm_topic: aws.sns.Topic

    def __init__(
        self, name: str, args: SharedBaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:SharedBase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy = pulumi.Output.from_input(args.account_id).apply(
            lambda account: key_policy(
                account_id=account, region=args.region, name_prefix=args.name_prefix
            )
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            aws.kms.KeyArgs(
                description=f"{args.name_prefix}: data, logs, queues and secrets",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=policy,
                tags=args.tags,
            ),
            child,
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            aws.kms.AliasArgs(name=f"alias/{args.name_prefix}", target_key_id=self.key.key_id),
            child,
        )
        self.alarm_topic = aws.sns.Topic(
            f"{name}-alarms",
            aws.sns.TopicArgs(
                name=f"{args.name_prefix}-alarms", kms_master_key_id=self.key.id, tags=args.tags
            ),
            child,
        )
        aws.sns.TopicSubscription(
            f"{name}-alarms-email",
            aws.sns.TopicSubscriptionArgs(
                topic=self.alarm_topic.arn, protocol="email", endpoint=args.alarm_email
            ),
            child,
        )
        self.register_outputs({"key_arn": self.key.arn, "alarm_topic_arn": self.alarm_topic.arn})
