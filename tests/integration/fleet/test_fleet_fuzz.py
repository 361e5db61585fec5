"""Schemathesis over the fleet app's OpenAPI: whatever the input, never a 5xx."""

from __future__ import annotations

from tests.integration.fleet.support import FleetHarness
from tests.support.openapi_fuzz import fuzz_operation, operations_of

MAX_EXAMPLES = 8


def test_no_operation_answers_5xx(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    appliance_auth = fleet.register("a1")
    failures: list[str] = []
    operations = operations_of(fleet.client.app, "fleet")
    assert len(operations) >= 20
    for operation in operations:
        admin = "/admin" in operation.path or "inventory" in operation.path
        fuzz_operation(
            operation,
            fleet.admin if admin else appliance_auth,
            failures,
            max_examples=MAX_EXAMPLES,
        )
    assert not failures, "\n".join(failures[:10])
