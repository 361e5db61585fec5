"""Schemathesis over the fleet app's OpenAPI: whatever the input, never a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from tests.integration.fleet.support import FleetHarness

MAX_EXAMPLES = 8


def test_no_operation_answers_5xx(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    appliance_auth = fleet.register("a1")
    schema = schemathesis.openapi.from_asgi("/openapi.json", fleet.client.app)
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the fleet app's OpenAPI is invalid: {result.err()}")
        operations.append(result.ok())
    assert len(operations) >= 20
    for operation in operations:
        admin = "/admin" in operation.path or "inventory" in operation.path
        _fuzz(operation, fleet.admin if admin else appliance_auth, failures)
    assert not failures, "\n".join(failures[:10])


def _fuzz(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(), authenticated=st.booleans())
    def call(case: Any, authenticated: bool) -> None:
        response = case.call(headers=headers if authenticated else {})
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
            )

    call()
