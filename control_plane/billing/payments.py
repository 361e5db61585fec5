"""The payment provider interface, and the built-in test provider (no real payment API).

A provider passes our idempotency key through, so a retry after a timeout or a crash can never
charge twice on its side either; `find_charge` answers "did the charge with this key happen?"
(the reconciler's question) and `refund` gives the money back, itself idempotent by key.
`stripe_provider.StripeProvider` is the real adapter; `providers.payment_provider` picks one.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from control_plane.billing.errors import (
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderTimeout,
)

DECLINE = "pm_test_decline"
TIMEOUT = "pm_test_timeout"


@dataclass(frozen=True)
class Charge:
    charge_id: str
    account_id: str
    amount_cents: int
    currency: str
    idempotency_key: str
    # When the provider took the money: the same on every replay of the key, so ledger
    # entries derived from it are deduplicated too.
    created: datetime
    refunded: bool = False


@dataclass(frozen=True)
class Refund:
    refund_id: str
    charge_id: str
    amount_cents: int
    created: datetime


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
        """Charge once per key (a replay returns the first charge), or raise
        PaymentDeclined / PaymentProviderTimeout."""
        ...

    def find_charge(self, idempotency_key: str) -> Charge | None:
        """The successful charge made with this key, or None; PaymentProviderTimeout if unsure."""
        ...

    def refund(self, *, charge_id: str, idempotency_key: str) -> Refund:
        """Refund the whole charge, once per key; PaymentProviderTimeout if unsure."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TestPaymentProvider:
    """Approves anything except `pm_test_decline` (declined) and `pm_test_timeout` (times out).

    `timeouts_before_answer` makes the next N charges time out whatever the method, to test
    retries. `search_lag` makes `find_charge` miss charges younger than it, as Stripe's search
    does (it is eventually consistent). Charges are kept in memory, deduplicated by idempotency
    key like a real provider.
    It approves any string, so `providers.payment_provider` refuses it in production.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._by_key: dict[str, Charge] = {}
        self._refunds: dict[str, Refund] = {}
        self.charges: list[Charge] = []
        self.timeouts_before_answer = 0
        self.search_lag = timedelta(0)

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
                created=self._clock(),
            )
            self._by_key[idempotency_key] = charge
            self.charges.append(charge)
            return charge

    def find_charge(self, idempotency_key: str) -> Charge | None:
        with self._lock:
            charge = self._by_key.get(idempotency_key)
            if charge is not None and charge.created > self._clock() - self.search_lag:
                return None  # not indexed yet
            return charge

    def refund(self, *, charge_id: str, idempotency_key: str) -> Refund:
        with self._lock:
            existing = self._refunds.get(idempotency_key)
            if existing is not None:
                return existing
            for key, charge in self._by_key.items():
                if charge.charge_id == charge_id:
                    self._by_key[key] = replace(charge, refunded=True)
                    refund = Refund(
                        refund_id=f"re_{uuid.uuid4().hex[:16]}",
                        charge_id=charge_id,
                        amount_cents=charge.amount_cents,
                        created=self._clock(),
                    )
                    self._refunds[idempotency_key] = refund
                    return refund
        raise PaymentProviderError(f"charge {charge_id} does not exist; nothing to refund")

    @property
    def refunds(self) -> list[Refund]:
        with self._lock:
            return list(self._refunds.values())
