"""Schemathesis over each subscriber app's OpenAPI (auth, billing, catalog, recommendations,
playback) against moto: whatever the input, with or without a token, never a 5xx."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from control_plane.auth.app import create_app as auth_app
from control_plane.billing.app import create_app as billing_app
from control_plane.catalog.app import create_app as catalog_app
from control_plane.common.settings import ServiceSettings
from control_plane.playback.app import create_app as playback_app
from control_plane.recommendations.app import create_app as recommendations_app
from tests.support.playback_world import StaticFleet, put_titles, subscribed_viewer
from tests.support.subscriber import signed_in_user

MAX_EXAMPLES = 6


def _playback(stack: ServiceSettings) -> FastAPI:
    app = playback_app(stack)
    titles = put_titles(stack, 3)
    app.state.playback = replace(app.state.playback, fleet=StaticFleet(titles))
    return app


APPS = {
    "auth": auth_app,
    "billing": billing_app,
    "catalog": catalog_app,
    "recommendations": recommendations_app,
    "playback": _playback,
}


@pytest.mark.parametrize("service", sorted(APPS))
def test_no_operation_answers_5xx(stack: ServiceSettings, service: str) -> None:
    viewer = subscribed_viewer(stack)
    app = APPS[service](stack)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the {service} app's OpenAPI is invalid: {result.err()}")
        operations.append(result.ok())
    assert operations
    failures: list[str] = []
    for operation in operations:
        # Logging out ends the token it is called with: give it a user of its own.
        own = operation.path == "/auth/logout"
        headers = signed_in_user(stack).headers if own else viewer.user.headers
        _fuzz(operation, headers, failures)
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
