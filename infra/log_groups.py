"""CloudWatch log groups: every one the stack creates has retention and the stack's KMS key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class LogSettings:
    """What every log group of a stack shares."""

    retention_days: int
    kms_key_arn: pulumi.Input[str]
    tags: dict[str, str]


def retained_log_group(
    resource_name: str, *, group_name: str, settings: LogSettings, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.LogGroup:
    """A log group named `group_name` that expires entries and is encrypted with the stack key."""
    return aws.cloudwatch.LogGroup(
        resource_name,
        aws.cloudwatch.LogGroupArgs(
            name=group_name,
            retention_in_days=settings.retention_days,
            kms_key_id=settings.kms_key_arn,
            tags=settings.tags,
        ),
        opts,
    )
