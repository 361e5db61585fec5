"""Fixtures of the fleet integration tests."""

from __future__ import annotations

import pytest

from control_plane.common.settings import ServiceSettings
from tests.integration.fleet.support import FleetHarness, make_harness


@pytest.fixture
def fleet(stack: ServiceSettings) -> FleetHarness:
    return make_harness(stack)
