"""A Stripe-style payment provider on httpx (no SDK): PaymentIntents, refunds, search.

Every POST sends our key as `Idempotency-Key`, so Stripe replays the first answer to a retry
instead of charging again (Stripe keeps keys for at least 24 hours, as long as our own
idempotency records). The charge id we keep is the PaymentIntent id. Only this module knows
Stripe's wire format; its errors become ours in `_call`:

- 402, or a `card_error`: PaymentDeclined (the card was refused; another card may work)
- a timeout, a network error, 429 or 5xx: PaymentProviderTimeout (retry with the same key)
- any other 4xx (a bad API key, a key reused with other parameters): PaymentProviderError

Tested against `httpx.MockTransport` only: this build machine cannot reach api.stripe.com, so
run a live-mode smoke charge (and refund) after configuring a new stack.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from control_plane.billing.errors import (
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderTimeout,
)
from control_plane.billing.payments import Charge, Refund

logger = logging.getLogger(__name__)

_DECLINED_STATUSES = {"requires_payment_method", "requires_action", "canceled"}


class StripeProvider:
    def __init__(
        self,
        *,
        api_key: SecretStr,
        api_base: str = "https://api.stripe.com",
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=api_base,
            timeout=timeout_s,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key.get_secret_value()}"},
        )

    def charge(
        self,
        *,
        account_id: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge:
        intent = self._call(
            "POST",
            "/v1/payment_intents",
            idempotency_key=idempotency_key,
            data={
                "amount": str(amount_cents),
                "currency": currency.lower(),
                "payment_method": payment_method,
                "confirm": "true",
                "off_session": "true",
                "metadata[account_id]": account_id,
                "metadata[idempotency_key]": idempotency_key,
            },
        )
        if intent.get("status") != "succeeded":
            if intent.get("status") in _DECLINED_STATUSES:
                raise PaymentDeclined("the card was declined; use another payment method")
            raise PaymentProviderTimeout(
                "the payment is still processing at the provider; retry with the same "
                "Idempotency-Key"
            )
        return _charge(intent, account_id=account_id, idempotency_key=idempotency_key)

    def find_charge(self, idempotency_key: str) -> Charge | None:
        # Search lags writes by up to a minute; the reconciler only asks about older attempts.
        escaped = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = self._call(
            "GET",
            "/v1/payment_intents/search",
            params={
                "query": f"metadata['idempotency_key']:'{escaped}'",
                "expand[]": "data.latest_charge",
            },
        )
        for intent in found.get("data", []):
            if intent.get("status") == "succeeded":
                account_id = str(intent.get("metadata", {}).get("account_id", ""))
                return _charge(intent, account_id=account_id, idempotency_key=idempotency_key)
        return None

    def refund(self, *, charge_id: str, idempotency_key: str) -> Refund:
        refund = self._call(
            "POST",
            "/v1/refunds",
            idempotency_key=idempotency_key,
            data={"payment_intent": charge_id},
        )
        return Refund(
            refund_id=str(refund["id"]),
            charge_id=charge_id,
            amount_cents=int(refund["amount"]),
            created=datetime.fromtimestamp(int(refund["created"]), UTC),
        )

    def close(self) -> None:
        self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        idempotency_key: str | None = None,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call; Stripe's and httpx's failures translated to billing errors here."""
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        try:
            response = self._client.request(method, path, data=data, params=params, headers=headers)
        except httpx.TransportError as exc:  # timeouts, refused connections, TLS failures
            logger.warning("payment provider %s %s failed: %s", method, path, type(exc).__name__)
            raise PaymentProviderTimeout(
                "the payment provider did not answer; retry with the same Idempotency-Key"
            ) from exc
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        if response.is_success:
            return body
        raw = body.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        logger.warning(
            "payment provider %s %s answered %s (%s)",
            method,
            path,
            response.status_code,
            error.get("code") or error.get("type"),
        )
        if response.status_code == 402 or error.get("type") == "card_error":
            raise PaymentDeclined("the card was declined; use another payment method")
        if response.status_code == 429 or response.status_code >= 500:
            raise PaymentProviderTimeout(
                "the payment provider is unavailable; retry with the same Idempotency-Key"
            )
        raise PaymentProviderError(
            f"the payment provider refused the request ({response.status_code} "
            f"{error.get('code') or error.get('type') or 'error'}); an operator should check "
            "the provider settings and logs"
        )


def _charge(intent: dict[str, Any], *, account_id: str, idempotency_key: str) -> Charge:
    latest = intent.get("latest_charge")
    refunded = isinstance(latest, dict) and bool(latest.get("refunded"))
    return Charge(
        charge_id=str(intent["id"]),
        account_id=account_id,
        amount_cents=int(intent["amount"]),
        currency=str(intent["currency"]).upper(),
        idempotency_key=idempotency_key,
        created=datetime.fromtimestamp(int(intent["created"]), UTC),
        refunded=refunded,
    )
