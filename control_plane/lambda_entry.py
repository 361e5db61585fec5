"""The Lambda entry module of every service archive (handler `control_plane.lambda_entry.handler`).

`handler` serves API Gateway HTTP API events with the service's FastAPI app; `run_job` runs one
of the service's scheduled jobs, named in the EventBridge event as {"job": "<name>"}. Secrets are
read once per cold start from Secrets Manager, never from the function's environment. It imports
only control_plane (infra/ and lab/ are not in the archive), so its one error, LambdaEntryError,
is its own.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from control_plane.common.settings import ServiceSettings
from control_plane.services import ServiceSpec, all_services

if TYPE_CHECKING:
    from control_plane.common.lambda_adapter import LambdaHandler

logger = logging.getLogger(__name__)

SERVICE_ENV = "EDGEFILL_SERVICE"
SECRETS_ARN_ENV = "EDGEFILL_SECRETS_ARN"
HTTP_HANDLER = "control_plane.lambda_entry.handler"
JOB_HANDLER = "control_plane.lambda_entry.run_job"


class LambdaEntryError(Exception):
    """The function's environment or event does not match the service it was deployed for."""


def _service() -> ServiceSpec:
    name = os.environ.get(SERVICE_ENV, "")
    for spec in all_services():
        if spec.name == name:
            return spec
    raise LambdaEntryError(
        f"{SERVICE_ENV}={name!r} names no registered service; the stack sets it from "
        "control_plane/services.py, so redeploy the stack with this archive"
    )


@cache
def _settings() -> ServiceSettings:
    secrets_arn = os.environ.get(SECRETS_ARN_ENV)
    secrets: dict[str, Any] = {}
    if secrets_arn:
        import boto3  # here, not at the top: the Pulumi program imports this module

        client = boto3.client(
            "secretsmanager",
            region_name=os.environ.get("EDGEFILL_AWS_REGION"),
            endpoint_url=os.environ.get("EDGEFILL_AWS_ENDPOINT_URL"),
        )
        secrets = json.loads(client.get_secret_value(SecretId=secrets_arn)["SecretString"])
    # The secret's JSON keys are ServiceSettings fields; the rest come from EDGEFILL_* variables.
    return ServiceSettings(**secrets)


@cache
def _http_handler() -> LambdaHandler:
    # Imported here so the Pulumi program can import this module without FastAPI or Mangum.
    from control_plane.common.lambda_adapter import lambda_handler_for

    return lambda_handler_for(_service().create_app(_settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """HTTP API (payload 2.0) events, answered by the service's app."""
    return _http_handler()(event, context)


def run_job(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One scheduled job; failures raise so Lambda retries, then the dead-letter queue keeps it."""
    spec = _service()
    wanted = event.get("job")
    for job in spec.jobs:
        if job.name == wanted:
            module_name, _, attr = job.function.partition(":")
            function: Callable[[ServiceSettings], dict[str, Any]] = getattr(
                importlib.import_module(module_name), attr
            )
            logger.info("running job %s of service %s", job.name, spec.name)
            return function(_settings())
    raise LambdaEntryError(
        f"event names job {wanted!r}, which service {spec.name!r} does not have "
        f"(it has {[job.name for job in spec.jobs]}); check the EventBridge target's input"
    )


FAN_OUT_HANDLER = "control_plane.lambda_entry.run_fan_out"


def fan_out_queue_name(name_prefix: str, service: str, fan_out: str) -> str:
    """The SQS queue of one fan-out (infra names it so; `run_fan_out` reads it back)."""
    return f"{name_prefix}-{service}-{fan_out}"


def run_fan_out(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS events of the service's fan-out queues: each message to its fan-out's handler.

    A message whose handler raises is reported in `batchItemFailures`, so SQS retries that one
    alone (and dead-letters it after the fan-out's `max_receives`); the others are deleted.
    """
    spec = _service()
    settings = _settings()
    by_queue = {
        fan_out_queue_name(settings.name_prefix, spec.name, f.name): f for f in spec.fan_outs
    }
    failures = []
    for record in event.get("Records", []):
        queue = str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1]
        fan_out = by_queue.get(queue)
        if fan_out is None:
            raise LambdaEntryError(
                f"a message from queue {queue!r}, which service {spec.name!r} does not feed "
                f"(its fan-outs: {sorted(by_queue)}); check the event source mapping"
            )
        module_name, _, attr = fan_out.handler.partition(":")
        handle: Callable[[ServiceSettings, dict[str, Any]], object] = getattr(
            importlib.import_module(module_name), attr
        )
        try:
            handle(settings, json.loads(record["body"]))
        except Exception:
            logger.exception("fan-out %s: message %s failed", fan_out.name, record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
