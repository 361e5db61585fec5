"""Lambda entry points: the same ASGI app, wrapped by Mangum with no per-invocation start-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def lambda_handler_for(app: FastAPI) -> LambdaHandler:
    """Wrap `app` for API Gateway HTTP API events; lifespan is off so nothing runs per call."""
    handler: LambdaHandler = Mangum(app, lifespan="off")
    return handler
