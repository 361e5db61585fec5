"""Billing against moto for tests: a settable clock, the billing setup, and tables whose calls
run one at a time for tests that race real threads.

Why serialise: DynamoDB makes each conditional write atomic per item, but moto's DynamoDB
(1 server, werkzeug threads) checks a condition and then writes without a lock, so two
threads' conditional writes on one item can both pass against moto and the test would fail
for moto's sake, not ours. Calls are serialised per table, which is what DynamoDB's per-item
atomicity gives a test on one account; the interleaving between calls stays real.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from control_plane.billing.idempotency import IdempotencyStore
from control_plane.billing.ledger import Ledger
from control_plane.billing.payments import TestPaymentProvider
from control_plane.billing.plans import BillingSettings
from control_plane.billing.service import Billing
from control_plane.billing.subscriptions import SubscriptionStore
from control_plane.common.settings import ServiceSettings

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


def make_billing(stack: ServiceSettings, clock: Clock) -> Billing:
    """Billing on the test stack's tables with the test provider, all on `clock`."""
    table = IdempotencyStore.from_settings(stack)._table
    return Billing(
        settings=BillingSettings(),
        subscriptions=SubscriptionStore.from_settings(stack),
        ledger=Ledger.from_settings(stack),
        idempotency=IdempotencyStore(table, clock=clock.epoch),
        payments=TestPaymentProvider(clock=clock),
        clock=clock,
    )


def provider(billing: Billing) -> TestPaymentProvider:
    """The test provider the billing setup was made with (its charges and refunds)."""
    assert isinstance(billing.payments, TestPaymentProvider)
    return billing.payments


def net_charged(billing: Billing) -> int:
    """Cents the provider kept: every charge minus every refund."""
    taken = sum(c.amount_cents for c in provider(billing).charges)
    return taken - sum(r.amount_cents for r in provider(billing).refunds)


def assert_ledger_matches_provider(billing: Billing, account_id: str) -> None:
    """The account's ledger sums to what the provider kept."""
    assert sum(e.amount_cents for e in billing.ledger.entries(account_id)) == net_charged(billing)


class SerialisedTable:
    """A boto3 Table whose calls hold one lock each (see the module's docstring)."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._table, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


def serialise_tables(billing: Billing) -> None:
    """Make every billing store's table calls one at a time, in place."""
    for store in (billing.subscriptions, billing.ledger, billing.idempotency):
        store._table = SerialisedTable(store._table)  # type: ignore[assignment]
