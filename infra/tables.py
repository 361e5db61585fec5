"""DynamoDB tables built from the services' TableSpecs: the same specs the tests and lab use."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from control_plane.common.tables import TableSpec, physical_table_name


def service_table(
    resource_name: str,
    *,
    spec: TableSpec,
    name_prefix: str,
    kms_key_arn: pulumi.Input[str],
    protect_data: bool,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.dynamodb.Table:
    """An on-demand table with PITR, the stack's KMS key, and the spec's keys, GSIs and TTL."""
    indexes = [
        aws.dynamodb.TableGlobalSecondaryIndexArgs(
            name=index.name,
            key_schemas=[
                aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                    attribute_name=key.name, key_type=key_type
                )
                for key, key_type in ((index.hash_key, "HASH"), (index.range_key, "RANGE"))
                if key is not None
            ],
            projection_type="ALL",
        )
        for index in spec.indexes
    ]
    return aws.dynamodb.Table(
        resource_name,
        aws.dynamodb.TableArgs(
            name=physical_table_name(name_prefix, spec.name),
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.hash_key.name,
            range_key=spec.range_key.name if spec.range_key else None,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=name, type=kind)
                for name, kind in spec.attributes().items()
            ],
            global_secondary_indexes=indexes or None,
            ttl=(
                aws.dynamodb.TableTtlArgs(attribute_name=spec.ttl_attribute, enabled=True)
                if spec.ttl_attribute
                else None
            ),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=kms_key_arn
            ),
            deletion_protection_enabled=protect_data,
            tags=tags,
        ),
        opts,
    )
