"""The catalog app behind Mangum answers an API Gateway HTTP API (v2) event, as in Lambda."""

from __future__ import annotations

import json

from control_plane.catalog.app import create_app
from control_plane.catalog.store import CatalogStore
from control_plane.common.lambda_adapter import lambda_handler_for
from control_plane.common.settings import ServiceSettings
from lab.seed.titles import synthetic_titles


def http_api_event(path: str, query: str) -> dict[str, object]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "api.example.com", "accept": "application/json"},
        "requestContext": {
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "t",
            },
            "requestId": "r1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def test_search_through_the_lambda_handler(stack: ServiceSettings) -> None:
    store = CatalogStore.from_settings(stack)
    titles = list(synthetic_titles(5, seed=5))
    for title in titles:
        store.put(title)
    handler = lambda_handler_for(create_app(stack))
    word = titles[0].name.split()[0]
    response = handler(http_api_event("/catalog/search", f"q={word}&limit=5"), None)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert titles[0].title_id in [r["title_id"] for r in body["results"]]
    missing = handler(http_api_event("/catalog/titles/title-9999", ""), None)
    assert missing["statusCode"] == 404
