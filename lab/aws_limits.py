"""The AWS limits the lab and the tests hold the control plane to, and how AWS counts against them.

One place for the numbers (ARCHITECTURE, "Production size"): `lab.gateway` enforces the API
Gateway and Lambda ones; moto enforces the DynamoDB and SQS ones itself, which
`tests/unit/lab/test_aws_limits.py` shows, so a moto upgrade that stopped would be seen.

Lambda counts the invocation payload as the JSON it carries: the HTTP API event going in, the
proxy response (status, headers, body) coming out, with a binary body base64-encoded (a third
larger). `lambda_event_bytes` and `lambda_response_bytes` build that JSON the way API Gateway
(payload format 2.0) and Mangum do and measure it. The event is an approximation: headers, path,
query and body, but not the ~1 KB of `requestContext` (account, API id, request id, time), so
the lab lets through events up to that much larger than Lambda would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

# API Gateway quotas for HTTP APIs ("Quotas for configuring and running an HTTP API", neither
# adjustable): "Payload size: 10 MB" and "Maximum integration timeout: 30 seconds". The 10 MB is
# 10 MiB: API Gateway's 413 names "10485760 bytes".
HTTP_API_PAYLOAD_MAX_BYTES = 10 * 1024 * 1024
HTTP_API_INTEGRATION_TIMEOUT_S = 30.0

# Lambda quota "Invocation payload (request and response): 6 MB each for synchronous" (not
# adjustable). Invoke refuses a request with "Request must be smaller than 6291456 bytes"; the
# runtime fails a response with "Response payload size exceeded maximum allowed payload size
# (6291556 bytes)" (Function.ResponseSizeTooLarge): the response limit is 100 bytes larger.
LAMBDA_REQUEST_MAX_BYTES = 6 * 1024 * 1024
LAMBDA_RESPONSE_MAX_BYTES = 6 * 1024 * 1024 + 100

# DynamoDB quota "Item size: 400 KB", attribute names (UTF-8) and values together, not
# adjustable. moto 5.2 refuses items over 405,000 bytes, a little stricter than AWS.
DYNAMODB_ITEM_MAX_BYTES = 400 * 1024

# SQS message size: the design figure is 256 KiB (ARCHITECTURE). AWS raised the quota to 1 MiB
# in August 2025 and made 1 MiB the default `MaximumMessageSize` of a queue, so AWS (and moto)
# hold a queue to 256 KiB only if it declares `MaximumMessageSize=262144`.
SQS_MESSAGE_MAX_BYTES = 256 * 1024  # infra.lambda_service declares it on every queue (tested)
SQS_QUOTA_MESSAGE_MAX_BYTES = 1024 * 1024

# What API Gateway and Mangum (its DEFAULT_TEXT_MIME_TYPES) pass as text; other bodies go base64.
_TEXT_MIME_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
)


def _body_field(body: bytes, content_type: str) -> tuple[str, bool]:
    """The body as the proxy JSON carries it, and whether that is base64."""
    if body and any(mime in content_type for mime in _TEXT_MIME_TYPES):
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    if not body:
        return "", False
    return base64.b64encode(body).decode("ascii"), True


def _joined(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Headers as payload format 2.0 has them: names lower-cased, repeats joined with commas."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        joined[key] = f"{joined[key]},{text}" if key in joined else text
    return joined


def _json_bytes(document: dict[str, object]) -> int:
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())


def lambda_event_bytes(
    *,
    method: str,
    path: str,
    query_string: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
) -> int:
    """The size of the HTTP API (payload format 2.0) event for this request, less requestContext."""
    header_map = _joined(headers)
    body_text, is_base64 = _body_field(body, header_map.get("content-type", ""))
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query_string.decode("latin-1"),
        "headers": header_map,
        "requestContext": {"http": {"method": method, "path": path}},
        "body": body_text,
        "isBase64Encoded": is_base64,
    }
    return _json_bytes(event)


def lambda_response_bytes(
    *, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> int:
    """The size of the proxy response Mangum returns to Lambda for this ASGI response."""
    header_map = _joined(headers)
    body_text, is_base64 = _body_field(body, header_map.get("content-type", "application/json"))
    response: dict[str, object] = {
        "statusCode": status,
        "headers": header_map,
        "body": body_text,
        "isBase64Encoded": is_base64,
    }
    return _json_bytes(response)
