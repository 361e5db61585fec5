"""The shared fuzz helper notices a 5xx (so a green fuzz run means something)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tests.support.openapi_fuzz import fuzz_operation, operations_of


def test_a_route_answering_500_is_reported() -> None:
    app = FastAPI()

    @app.get("/broken/{n}")
    def broken(n: int) -> JSONResponse:
        return JSONResponse({"error": "boom"}, status_code=500 if n >= 0 else 200)

    failures: list[str] = []
    for operation in operations_of(app, "broken"):
        fuzz_operation(operation, {}, failures, max_examples=5)
    assert failures and failures[0].startswith("GET /broken/")
