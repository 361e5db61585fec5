"""Money-moving calls raced by real threads against moto: one charge, one entitlement.

Each test starts its threads together (a barrier) and slows the provider so they overlap
inside the operation. The stores' tables serialise their calls (tests/support/billing_world:
moto's conditional writes are not atomic across threads; DynamoDB's are, per item).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from control_plane.billing.idempotency import StoredAnswer
from control_plane.billing.reconcile import reconcile
from control_plane.billing.service import PENDING_GRACE, Billing, change_plan, subscribe
from control_plane.billing.subscriptions import SubscriptionStatus
from control_plane.common.errors import ControlPlaneError
from control_plane.common.settings import ServiceSettings
from tests.support.billing_world import (
    Clock,
    make_billing,
    net_charged,
    provider,
    serialise_tables,
)

ACCOUNT = "acct-race"
THREADS = 4


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def billing(stack: ServiceSettings, clock: Clock) -> Billing:
    billing = make_billing(stack, clock)
    serialise_tables(billing)
    return billing


def slow_provider(billing: Billing, monkeypatch: pytest.MonkeyPatch) -> None:
    original = billing.payments.charge

    def slow_charge(**kwargs: Any) -> Any:
        time.sleep(0.2)  # every thread is inside the operation before the first charge lands
        return original(**kwargs)

    monkeypatch.setattr(billing.payments, "charge", slow_charge)


def race(*calls: Callable[[], StoredAnswer]) -> list[StoredAnswer | ControlPlaneError]:
    """Run `calls` in threads started together; each one's answer or error, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[StoredAnswer | ControlPlaneError | None] = [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[n] = calls[n]()
        except ControlPlaneError as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(not t.is_alive() for t in threads), "a racing call hung"
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def status(result: StoredAnswer | ControlPlaneError) -> int:
    return result.status_code


def subscribe_with(billing: Billing, key: str, plan_id: str = "standard") -> StoredAnswer:
    return subscribe(
        billing,
        account_id=ACCOUNT,
        plan_id=plan_id,
        payment_method="pm_test_visa",
        idempotency_key=key,
    )


def test_subscribes_with_different_keys_at_once_charge_one(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_provider(billing, monkeypatch)
    results = race(
        *(lambda n=n: subscribe_with(billing, f"race-key-{n:04d}") for n in range(THREADS))
    )
    assert sorted(status(r) for r in results) == [201] + [409] * (THREADS - 1)
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    assert [c.amount_cents for c in provider(billing).charges] == [1549]


def test_one_key_sent_from_several_threads_charges_once(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_provider(billing, monkeypatch)
    results = race(*(lambda: subscribe_with(billing, "same-key-0001") for _ in range(THREADS)))
    # One runs it; the others are told it is in progress (409, not stored) or, once it is
    # done, get its answer replayed.
    assert [status(r) for r in results].count(201) >= 1
    assert all(status(r) in (201, 409) for r in results), results
    assert subscribe_with(billing, "same-key-0001").status_code == 201
    assert [c.amount_cents for c in provider(billing).charges] == [1549]


def test_plans_asked_for_with_different_keys_at_once_charge_one_plan(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A premium and a basic subscribe racing: whichever wins, it is paid at its own price."""
    slow_provider(billing, monkeypatch)
    results = race(
        lambda: subscribe_with(billing, "race-premium-1", "premium"),
        lambda: subscribe_with(billing, "race-basic-001", "basic"),
    )
    assert sorted(status(r) for r in results) == [201, 409]
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    price = billing.settings.plan(sub.plan_id).monthly_price_cents
    assert [c.amount_cents for c in provider(billing).charges] == [price]


def test_upgrades_with_different_keys_at_once_charge_the_difference_once(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert subscribe_with(billing, "first-key-0001").status_code == 201
    slow_provider(billing, monkeypatch)
    results = race(
        *(
            lambda n=n: change_plan(
                billing, account_id=ACCOUNT, plan_id="premium", idempotency_key=f"up-key-{n:04d}"
            )
            for n in range(THREADS)
        )
    )
    assert [status(r) for r in results].count(200) >= 1, results
    # The others wait for the change in progress (503) or see it applied.
    assert all(status(r) in (200, 409, 503) for r in results), results
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.plan_id == "premium" and sub.pending_change is None
    assert [c.amount_cents for c in provider(billing).charges] == [1549, 2299 - 1549]


def test_the_reconciler_and_a_same_key_retry_in_threads_settle_once(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscribe whose charge timed out is retried with its key while the reconciler runs."""
    provider(billing).timeouts_before_answer = 1
    with pytest.raises(ControlPlaneError):
        subscribe_with(billing, "slow-key-0001")
    clock.now += PENDING_GRACE + timedelta(minutes=1)
    slow_provider(billing, monkeypatch)

    def reconciler() -> StoredAnswer:
        report = reconcile(billing)
        return StoredAnswer(status_code=200, body={"report": str(report)})

    race(lambda: subscribe_with(billing, "slow-key-0001"), reconciler)
    monkeypatch.undo()
    clock.now += PENDING_GRACE + timedelta(minutes=1)
    reconcile(billing)
    sub = billing.subscriptions.get(ACCOUNT)
    if sub is None or sub.status is not SubscriptionStatus.ACTIVE:
        assert subscribe_with(billing, "slow-key-0001").status_code == 201
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    assert net_charged(billing) == 1549
