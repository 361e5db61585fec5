"""Fixtures of the agent-serve integration tests: a real appliance nginx per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    run_appliance,
)


@pytest.fixture
def appliance(tmp_path: Path) -> Iterator[RunningAppliance]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: run scripts/bootstrap.sh")
    yield from run_appliance(appliance_settings(tmp_path))
