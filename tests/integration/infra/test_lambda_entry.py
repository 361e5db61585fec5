"""The Lambda entry points on a materialized stack: secrets from Secrets Manager, jobs by name."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

import control_plane.lambda_entry as entry
from control_plane.lambda_entry import LambdaEntryError
from lab.moto_materialize import MaterializedStack
from tests.integration.infra.conftest import REGION, client, settings_for
from tests.support.aws import MotoServer
from tests.unit.infra.harness import TEST_SERVICES

T = TypeVar("T")


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
    yield
    entry._settings.cache_clear()
    entry._http_handler.cache_clear()


def invoke(function: Callable[[dict[str, Any], Any], T], event: dict[str, Any]) -> T:
    """Call an entry point as Lambda would: on a thread with an event loop of its own.

    Mangum runs the app on the calling thread's loop (creating one when none is set); a
    thread per call keeps the test process's main loop untouched and every loop closed.
    """
    results: list[T] = []
    failures: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            results.append(function(event, None))
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if failures:
        raise failures[0]
    return results[0]


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
    put = invoke(entry.handler, _event("PUT", "/widgets/v1/w9", widget))
    assert put["statusCode"] == 200
    got = invoke(entry.handler, _event("GET", "/widgets/v1/w9/1"))
    assert (got["statusCode"], json.loads(got["body"])) == (200, widget)


@pytest.mark.usefixtures("widgets_function")
def test_a_scheduled_job_runs_by_name_and_an_unknown_one_is_refused() -> None:
    widget = {"widget_id": "w10", "version": 1, "owner": "ops"}
    assert invoke(entry.handler, _event("PUT", "/widgets/v1/w10", widget))["statusCode"] == 200
    assert invoke(entry.run_job, {"job": "nightly"})["widgets_of_ops"] >= 1
    with pytest.raises(LambdaEntryError, match=r"names job 'daily'.*it has \['nightly'\]"):
        invoke(entry.run_job, {"job": "daily"})


@pytest.mark.usefixtures("widgets_function")
def test_a_function_deployed_for_an_unknown_service_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEFILL_SERVICE", "gizmos")
    with pytest.raises(
        LambdaEntryError, match="EDGEFILL_SERVICE='gizmos' names no registered service"
    ):
        invoke(entry.handler, _event("GET", "/healthz"))


def _sqs_record(message_id: str, queue: str, body: dict[str, object]) -> dict[str, object]:
    return {
        "messageId": message_id,
        "body": json.dumps(body),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{queue}",
    }


@pytest.mark.usefixtures("widgets_function")
def test_a_fan_out_message_that_fails_is_reported_alone_for_sqs_to_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEFILL_SERVICE", "gears")
    queue = entry.fan_out_queue_name(entry._settings().name_prefix, "gears", "teeth")
    answer = invoke(
        entry.run_fan_out,
        {
            "Records": [
                _sqs_record("m1", queue, {"tooth": 1}),
                _sqs_record("m2", queue, {"tooth": 2, "fail": True}),
                _sqs_record("m3", queue, {"tooth": 3}),
            ]
        },
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    with pytest.raises(LambdaEntryError, match="which service 'gears' does not feed"):
        invoke(entry.run_fan_out, {"Records": [_sqs_record("m4", "someone-elses", {})]})
