"""Fixtures of the agent-fill integration tests: an agent lab and real sources per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from control_plane.common.settings import ServiceSettings
from tests.integration.agent_fill.agent_lab import (
    AgentLab,
    ContentObject,
    new_credential,
    write_credential,
)
from tests.integration.agent_fill.fleet_stub import fleet_stub


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[AgentLab]:
    credential = new_credential()
    root = tmp_path / "agent"
    root.mkdir()
    write_credential(root / "credential.json", credential)
    with fleet_stub(credential) as stub:
        yield AgentLab(root=root, fleet=stub)


class S3Origin:
    """The origin bucket of a test stack in moto; URLs are presigned GETs."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.bucket = settings.origin_bucket
        self._s3 = boto3.client(
            "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
        )

    def put(self, objects: list[ContentObject]) -> None:
        for obj in objects:
            self._s3.put_object(Bucket=self.bucket, Key=obj.key, Body=obj.data)

    def url(self, obj: ContentObject) -> str:
        return str(
            self._s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": obj.key}, ExpiresIn=3600
            )
        )


@pytest.fixture
def origin(stack: ServiceSettings) -> S3Origin:
    return S3Origin(stack)
