"""Schemathesis over an app's own OpenAPI: list its operations, fuzz each, collect any 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err
from starlette.types import ASGIApp


def operations_of(app: ASGIApp, service: str) -> list[Any]:
    """Every operation of the app's OpenAPI; an invalid spec fails the test, naming the service."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the {service} app's OpenAPI is invalid: {result.err()}")
        operations.append(result.ok())
    return operations


def fuzz_operation(
    operation: Any, headers: dict[str, str], failures: list[str], *, max_examples: int
) -> None:
    """Call `operation` with generated input, with and without `headers`; note every 5xx."""

    @settings(
        max_examples=max_examples,
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
