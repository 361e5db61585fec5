"""Idempotency under concurrent retries, and the scheduled renewals, against moto."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from control_plane.billing.idempotency import IdempotencyStore
from control_plane.billing.ledger import Ledger
from control_plane.billing.payments import TestPaymentProvider
from control_plane.billing.plans import BillingSettings
from control_plane.billing.renewals import renew_due
from control_plane.billing.service import (
    Billing,
    RenewalPending,
    cancel,
    change_plan,
    entitlement,
    subscribe,
)
from control_plane.billing.subscriptions import SubscriptionStatus, SubscriptionStore
from control_plane.common.errors import ControlPlaneError
from control_plane.common.settings import ServiceSettings


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def billing(stack: ServiceSettings, clock: Clock) -> Billing:
    return Billing(
        settings=BillingSettings(),
        subscriptions=SubscriptionStore.from_settings(stack),
        ledger=Ledger.from_settings(stack),
        idempotency=IdempotencyStore.from_settings(stack),
        payments=TestPaymentProvider(),
        clock=clock,
    )


def subscribed(billing: Billing, account_id: str, *, plan_id: str, key: str) -> None:
    """Subscribe `account_id` with a card that works; the answer must be 201."""
    answer = subscribe(
        billing,
        account_id=account_id,
        plan_id=plan_id,
        payment_method="pm_test_visa",
        idempotency_key=key,
    )
    assert answer.status_code == 201, answer.body


def charges(billing: Billing) -> int:
    assert isinstance(billing.payments, TestPaymentProvider)
    return len(billing.payments.charges)


def test_concurrent_retries_of_one_key_charge_once(billing: Billing) -> None:
    def attempt() -> int:
        try:
            answer = subscribe(
                billing,
                account_id="acct-1",
                plan_id="basic",
                payment_method="pm_test_visa",
                idempotency_key="same-key-123",
            )
        except ControlPlaneError as exc:
            return exc.status_code
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: attempt(), range(16)))
    # Every caller gets either the one answer or "in progress, retry"; never a second charge.
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    assert charges(billing) == 1
    ledger = [e.kind for e in billing.ledger.entries("acct-1")]
    assert ledger == ["charged", "subscribed"]


def renewals_of(billing: Billing, account_id: str) -> int:
    return [str(e.kind) for e in billing.ledger.entries(account_id)].count("renewed")


def test_renewal_charges_once_per_period_however_often_it_runs(
    billing: Billing, clock: Clock
) -> None:
    subscribed(billing, "acct-2", plan_id="premium", key="renew-key-1")
    assert renew_due(billing).renewed == 0  # nothing due yet
    clock.now += timedelta(days=30, seconds=1)
    assert renew_due(billing).renewed == 1
    assert renew_due(billing).renewed == 0  # the period moved on: not due again
    assert charges(billing) == 2 and renewals_of(billing, "acct-2") == 1
    assert entitlement(billing, account_id="acct-2").entitled


def test_cancelled_subscription_lapses_at_period_end(billing: Billing, clock: Clock) -> None:
    subscribed(billing, "acct-3", plan_id="basic", key="cancel-key-1")
    cancel(billing, account_id="acct-3")
    clock.now += timedelta(days=31)
    report = renew_due(billing)
    assert (report.lapsed, report.renewed) == (1, 0)
    assert charges(billing) == 1
    assert not entitlement(billing, account_id="acct-3").entitled


def test_declined_renewal_marks_past_due(billing: Billing, clock: Clock) -> None:
    subscribed(billing, "acct-4", plan_id="basic", key="decline-key-1")
    store = billing.subscriptions
    current = store.get("acct-4")
    assert current is not None
    store.replace(current, current.model_copy(update={"payment_method": "pm_test_decline"}))
    clock.now += timedelta(days=31)
    assert renew_due(billing).declined == 1
    after = store.get("acct-4")
    assert after is not None and after.status is SubscriptionStatus.PAST_DUE
    assert not entitlement(billing, account_id="acct-4").entitled
    # The way back: subscribe again with a working card (a new period, a new charge).
    again = subscribe(
        billing,
        account_id="acct-4",
        plan_id="basic",
        payment_method="pm_test_visa",
        idempotency_key="decline-key-2",
    )
    assert again.status_code == 201, again.body
    assert entitlement(billing, account_id="acct-4").entitled
    assert charges(billing) == 2  # the first period and the new one; the declined one is none


def test_a_renewal_backlog_charges_one_period_from_now(billing: Billing, clock: Clock) -> None:
    subscribed(billing, "acct-6", plan_id="basic", key="backlog-key-1")
    clock.now += timedelta(days=91)  # the renewal job was down for two months
    assert not entitlement(billing, account_id="acct-6").entitled
    assert renew_due(billing).renewed == 1
    assert renew_due(billing).renewed == 0, "one period from now: nothing else is due"
    renewed = billing.subscriptions.get("acct-6")
    assert renewed is not None and renewed.current_period_end == clock.now + billing.period
    assert charges(billing) == 2, "the missed periods, not entitled, are never charged"
    assert entitlement(billing, account_id="acct-6").entitled


def test_renewal_timeout_is_retried_next_run(billing: Billing, clock: Clock) -> None:
    subscribed(billing, "acct-5", plan_id="basic", key="timeout-key-1")
    assert isinstance(billing.payments, TestPaymentProvider)
    billing.payments.timeouts_before_answer = 1
    clock.now += timedelta(days=31)
    assert renew_due(billing).retry_later == 1
    assert renew_due(billing).renewed == 1
    assert charges(billing) == 2


def test_a_plan_change_waits_for_the_renewal_of_an_ended_period(
    billing: Billing, clock: Clock
) -> None:
    subscribed(billing, "acct-7", plan_id="basic", key="change-key-1")
    clock.now += timedelta(days=30, seconds=1)  # the period ended; the renewal has not run
    with pytest.raises(RenewalPending):
        change_plan(billing, account_id="acct-7", plan_id="premium", idempotency_key="up-key-1")
    current = billing.subscriptions.get("acct-7")
    assert current is not None and current.plan_id == "basic"
    assert renew_due(billing).renewed == 1  # renewed at the plan in force: basic
    changed = change_plan(
        billing, account_id="acct-7", plan_id="premium", idempotency_key="up-key-1"
    )
    assert changed.status_code == 200 and changed.body["plan_id"] == "premium"
    assert isinstance(billing.payments, TestPaymentProvider)
    amounts = [c.amount_cents for c in billing.payments.charges]
    basic, premium = (billing.settings.plan(p).monthly_price_cents for p in ("basic", "premium"))
    # First period and its renewal at basic, then the upgrade's difference for the new period.
    assert sorted(amounts) == sorted([basic, basic, premium - basic])
