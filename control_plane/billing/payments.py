"""The payment provider interface, and the built-in test provider (no real payment API).

A real provider (Stripe, Adyen) implements `PaymentProvider` and passes our idempotency key
through, so a retry after a timeout can never charge twice on its side either.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Protocol

from control_plane.billing.errors import PaymentDeclined, PaymentProviderTimeout

DECLINE = "pm_test_decline"
TIMEOUT = "pm_test_timeout"


@dataclass(frozen=True)
class Charge:
    charge_id: str
    account_id: str
    amount_cents: int
    currency: str
    idempotency_key: str


class PaymentProvider(Protocol):
    def charge(
        self,
        *,
        account_id: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge:
        """Charge or raise PaymentDeclined / PaymentProviderTimeout."""
        ...


class TestPaymentProvider:
    """Approves anything except `pm_test_decline` (declined) and `pm_test_timeout` (times out).

    `timeouts_before_answer` makes the next N charges time out whatever the method, to test
    retries. Charges are kept in memory, deduplicated by idempotency key like a real provider.
    """

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Charge] = {}
        self.charges: list[Charge] = []
        self.timeouts_before_answer = 0

    def charge(
        self,
        *,
        account_id: str,
        amount_cents: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge:
        with self._lock:
            if self.timeouts_before_answer > 0 or payment_method == TIMEOUT:
                self.timeouts_before_answer = max(0, self.timeouts_before_answer - 1)
                raise PaymentProviderTimeout(
                    "the payment provider did not answer; retry with the same Idempotency-Key"
                )
            if payment_method == DECLINE:
                raise PaymentDeclined("the card was declined; use another payment method")
            existing = self._by_key.get(idempotency_key)
            if existing is not None:
                return existing
            charge = Charge(
                charge_id=f"ch_{uuid.uuid4().hex[:16]}",
                account_id=account_id,
                amount_cents=amount_cents,
                currency=currency,
                idempotency_key=idempotency_key,
            )
            self._by_key[idempotency_key] = charge
            self.charges.append(charge)
            return charge
