"""The Lambda entry points on a materialized stack: secrets from Secrets Manager, jobs by name."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

import infra.lambda_entry as entry
from infra.lambda_entry import LambdaEntryError
from infra.moto_materialize import MaterializedStack
from tests.integration.infra.conftest import REGION, client, settings_for
from tests.support.aws import MotoServer
from tests.unit.infra.harness import TEST_SERVICES


@pytest.fixture
def widgets_function(
    materialized: MaterializedStack, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The environment the stack gives the widgets function, pointed at moto."""
    settings = settings_for(materialized, moto_server)
    monkeypatch.setattr(entry, "all_services", lambda: TEST_SERVICES)
    variables = {
        "EDGEFILL_SERVICE": "widgets",
        "EDGEFILL_ENVIRONMENT": "production",
        "EDGEFILL_SECRETS_ARN": materialized.exports["service_secrets_arn"],
        "EDGEFILL_AWS_REGION": REGION,
        "EDGEFILL_AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "EDGEFILL_NAME_PREFIX": settings.name_prefix,
        "EDGEFILL_ORIGIN_BUCKET": settings.origin_bucket,
        "EDGEFILL_MANIFEST_BUCKET": settings.manifest_bucket,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    entry._settings.cache_clear()
    entry._http_handler.cache_clear()
    # Mangum runs the app on the thread's event loop (creating one if none is set); give it
    # one this test owns and closes, as a Lambda process would simply exit.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        entry._settings.cache_clear()
        entry._http_handler.cache_clear()
        asyncio.set_event_loop(None)
        loop.close()


def _event(method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "api.example.com", "content-type": "application/json"},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "t",
            },
            "stage": "$default",
            "requestId": "r",
            "accountId": "1",
            "apiId": "a",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "time": "",
            "timeEpoch": 0,
        },
    }


@pytest.mark.usefixtures("widgets_function")
def test_production_settings_take_their_secrets_from_secrets_manager(
    materialized: MaterializedStack, moto_server: MotoServer
) -> None:
    stored = json.loads(
        client(moto_server, "secretsmanager").get_secret_value(
            SecretId=materialized.exports["service_secrets_arn"]
        )["SecretString"]
    )
    settings = entry._settings()
    assert settings.url_signing_secret.get_secret_value() == stored["url_signing_secret"]
    assert settings.admin_token.get_secret_value() == stored["admin_token"]
    assert stored["admin_token"] not in repr(settings)


@pytest.mark.usefixtures("widgets_function")
def test_http_events_reach_the_service_and_its_table() -> None:
    widget = {"widget_id": "w9", "version": 1, "owner": "ops"}
    put = entry.handler(_event("PUT", "/widgets/v1/w9", widget), None)
    assert put["statusCode"] == 200
    got = entry.handler(_event("GET", "/widgets/v1/w9/1"), None)
    assert (got["statusCode"], json.loads(got["body"])) == (200, widget)


@pytest.mark.usefixtures("widgets_function")
def test_a_scheduled_job_runs_by_name_and_an_unknown_one_is_refused() -> None:
    entry.handler(
        _event("PUT", "/widgets/v1/w10", {"widget_id": "w10", "version": 1, "owner": "ops"}), None
    )
    assert entry.run_job({"job": "nightly"}, None)["widgets_of_ops"] >= 1
    with pytest.raises(LambdaEntryError, match=r"names job 'daily'.*it has \['nightly'\]"):
        entry.run_job({"job": "daily"}, None)


@pytest.mark.usefixtures("widgets_function")
def test_a_function_deployed_for_an_unknown_service_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEFILL_SERVICE", "gizmos")
    with pytest.raises(
        LambdaEntryError, match="EDGEFILL_SERVICE='gizmos' names no registered service"
    ):
        entry.handler(_event("GET", "/healthz"), None)
