"""Verifying the payment provider's webhooks: Stripe's `Stripe-Signature` scheme.

The header is `t=<unix time>,v1=<hex>[,v1=<hex>...]` (more than one v1 while a signing secret
is being rolled); each v1 is HMAC-SHA256 over f"{t}.{payload}" with the endpoint's secret.
A signature is accepted if any v1 matches (compared in constant time) and `t` is within the
tolerance of now, which stops an old captured event from being replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

from control_plane.common.errors import BadRequest

DEFAULT_TOLERANCE_S = 300


class WebhookSignatureInvalid(BadRequest):
    code = "webhook_signature_invalid"


def sign(payload: bytes, *, secret: SecretStr, timestamp: int) -> str:
    """The v1 signature of `payload` at `timestamp` (what the provider computes)."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.get_secret_value().encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    payload: bytes,
    header: str | None,
    secret: SecretStr,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """The event's signed timestamp if `header` signs `payload`; WebhookSignatureInvalid if not."""
    if not header:
        raise WebhookSignatureInvalid("the Stripe-Signature header is missing")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        raise WebhookSignatureInvalid(
            "the Stripe-Signature header must hold one t=<timestamp> and at least one v1=<hex>"
        )
    timestamp = int(timestamps[0])
    expected = sign(payload, secret=secret, timestamp=timestamp)
    wanted = expected.encode()
    if not any(hmac.compare_digest(wanted, v1.encode("utf-8", "replace")) for v1 in signatures):
        raise WebhookSignatureInvalid(
            "no v1 signature matches the payload; check the endpoint's signing secret"
        )
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureInvalid(
            f"the signature is {int(current - timestamp)} s old, more than the {tolerance_s} s "
            "allowed; a replayed event is refused"
        )
    return timestamp
