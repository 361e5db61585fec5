"""Schemathesis over each subscriber app's OpenAPI (auth, billing, catalog, recommendations,
playback) against moto: whatever the input, with or without a token, never a 5xx."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi import FastAPI

from control_plane.auth.app import create_app as auth_app
from control_plane.billing.app import create_app as billing_app
from control_plane.catalog.app import create_app as catalog_app
from control_plane.common.settings import ServiceSettings
from control_plane.playback.app import create_app as playback_app
from control_plane.recommendations.app import create_app as recommendations_app
from tests.support.openapi_fuzz import fuzz_operation, operations_of
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
    operations = operations_of(app, service)
    assert operations
    failures: list[str] = []
    for operation in operations:
        # Logging out ends the token it is called with: give it a user of its own.
        own = operation.path == "/auth/logout"
        headers = signed_in_user(stack).headers if own else viewer.user.headers
        fuzz_operation(operation, headers, failures, max_examples=MAX_EXAMPLES)
    assert not failures, "\n".join(failures[:10])
