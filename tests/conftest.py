"""Fixtures every test area shares: a moto server per test process and a per-test stack in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_plane.common.settings import ServiceSettings
from tests.support.aws import MotoServer, provision_test_stack, start_moto_server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    yield from start_moto_server()


@pytest.fixture
def stack(moto_server: MotoServer) -> ServiceSettings:
    """Settings for a stack of this test's own (unique prefix), with its tables and buckets."""
    return provision_test_stack(moto_server)
