"""The stack config schema: Pulumi.dev.yaml is valid, and each bad value fails with its key."""

from __future__ import annotations

import json

import pytest

from infra.errors import StackConfigError
from tests.unit.infra.harness import dev_config, run_stack


def test_example_stack_config_builds_the_stack() -> None:
    graph = run_stack(config=dev_config())
    assert graph.exports["region"] == "eu-west-1"
    assert graph.exports["name_prefix"] == "edgefill-dev"


@pytest.mark.parametrize(
    ("overrides", "removed", "expected"),
    [
        ({}, "edgefill:namePrefix", "edgefill:namePrefix: Field required"),
        ({}, "aws:region", "aws:region: Field required"),
        ({}, "edgefill:plans", "edgefill:plans: Field required"),
        ({"edgefill:namePrefix": "Edgefill_Dev"}, None, "edgefill:namePrefix"),
        ({"edgefill:logRetentionDays": "31"}, None, "edgefill:logRetentionDays"),
        ({"edgefill:logRetentionDays": "thirty"}, None, "edgefill:logRetentionDays"),
        ({"edgefill:protectData": "maybe"}, None, "edgefill:protectData"),
        ({"edgefill:alarmEmail": "not-an-address"}, None, "edgefill:alarmEmail"),
        ({"edgefill:tags": "{}"}, None, "edgefill:tags"),
        ({"edgefill:tags": '{"aws:owner": "x"}'}, None, "reserved by AWS"),
        ({"edgefill:tags": "{not json"}, None, "edgefill:tags is not valid"),
        ({"edgefill:plans": "[]"}, None, "edgefill:plans"),
        (
            {
                "edgefill:plans": json.dumps(
                    [
                        {
                            "id": "aa",
                            "name": "A",
                            "monthlyPriceCents": 1,
                            "maxStreams": 1,
                            "maxHeight": 720,
                        },
                        {
                            "id": "aa",
                            "name": "B",
                            "monthlyPriceCents": 2,
                            "maxStreams": 1,
                            "maxHeight": 720,
                        },
                    ]
                )
            },
            None,
            "plan ids must be unique",
        ),
        ({"edgefill:sizes": '{"lambdaMemoryMb": 64}'}, None, "edgefill:sizes.lambdaMemoryMb"),
        ({"edgefill:sizes": '{"lambdaMemory": 512}'}, None, "edgefill:sizes.lambdaMemory"),
        (
            {"edgefill:sizes": '{"fleetViewTtlSeconds": 0}'},
            None,
            "edgefill:sizes.fleetViewTtlSeconds",
        ),
        ({"edgefill:fillWindow": '{"start": "02:00:00", "end": "02:00:00"}'}, None, "empty"),
        ({"edgefill:fillWindow": '{"timezone": "Mars/Olympus"}'}, None, "unknown time zone"),
        ({"edgefill:customDomain": '{"domainName": "api.example.com"}'}, None, "certificateArn"),
    ],
)
def test_bad_config_fails_before_any_resource_with_the_key_named(
    overrides: dict[str, str], removed: str | None, expected: str
) -> None:
    config = dev_config(**overrides)
    if removed:
        del config[removed]
    with pytest.raises(StackConfigError, match=r"the stack config is invalid|not valid") as caught:
        run_stack(config=config)
    assert expected in str(caught.value)
    assert "fix:" in str(caught.value) or "fix it" in str(caught.value)
