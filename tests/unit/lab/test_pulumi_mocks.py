"""The mocks harness itself: isolation from the caller, loud failures, config as the engine gives it."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from infra.errors import InfraError
from lab.pulumi_mocks import RecordingMocks, run_program, stack_config_from_yaml
from tests.unit.infra.harness import DEV_STACK_FILE


def test_a_run_leaves_the_callers_event_loop_alone() -> None:
    # Checked on a thread of its own, so this test never touches the main thread's loop.
    seen: list[bool] = []

    def caller() -> None:
        mine = asyncio.new_event_loop()
        asyncio.set_event_loop(mine)
        try:
            run_program(lambda: {"x": 1}, mocks=RecordingMocks(region="us-east-1"), config={})
            seen.append(asyncio.get_event_loop() is mine and not mine.is_closed())
        finally:
            asyncio.set_event_loop(None)
            mine.close()

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join(timeout=60)
    assert seen == [True]


def test_an_invoke_the_mocks_do_not_answer_fails_loudly() -> None:
    def program() -> dict[str, object]:
        return {"zones": aws.get_availability_zones_output().names}

    with pytest.raises(
        InfraError, match="getAvailabilityZones, which RecordingMocks does not answer"
    ):
        run_program(program, mocks=RecordingMocks(region="us-east-1"), config={})


def test_a_program_error_reaches_the_caller_and_the_next_run_is_clean() -> None:
    def broken() -> dict[str, object]:
        aws.sqs.Queue("q", aws.sqs.QueueArgs(name="q"))
        raise ValueError("the program broke")

    with pytest.raises(ValueError, match="the program broke"):
        run_program(broken, mocks=RecordingMocks(region="us-east-1"), config={})
    graph = run_program(
        lambda: {"region": pulumi.Config("aws").require("region")},
        mocks=RecordingMocks(region="eu-west-1"),
        config={"aws:region": "eu-west-1"},
    )
    assert graph.exports == {"region": "eu-west-1"} and graph.resources == []


def test_stack_config_is_passed_as_the_engine_does(tmp_path: Path) -> None:
    config = stack_config_from_yaml(DEV_STACK_FILE)
    assert config["edgefill:namePrefix"] == "edgefill-dev"
    assert json.loads(config["edgefill:tags"])["project"] == "edgefill"
    assert json.loads(config["edgefill:plans"])[0]["id"] == "basic"
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  - not a map\n")
    with pytest.raises(InfraError, match="'config' must be a map"):
        stack_config_from_yaml(bad)
