"""The per-test stack really exists in moto, and two tests never share it."""

from __future__ import annotations

import boto3

from control_plane.common.settings import ServiceSettings


def test_stack_has_its_buckets(stack: ServiceSettings) -> None:
    s3 = boto3.client("s3", region_name=stack.aws_region, endpoint_url=stack.aws_endpoint_url)
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {stack.origin_bucket, stack.manifest_bucket} <= names
    s3.put_object(Bucket=stack.origin_bucket, Key="t/a", Body=b"abc")
    assert s3.get_object(Bucket=stack.origin_bucket, Key="t/a")["Body"].read() == b"abc"
