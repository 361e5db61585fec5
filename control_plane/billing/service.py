"""Billing operations: subscribe, change plan, cancel, renew, and the entitlement check.

Money moves only inside `IdempotencyStore.run`, keyed by the caller's Idempotency-Key (or, for
renewals, by account and period), and the provider gets the same key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from control_plane.billing.errors import PaymentDeclined, PaymentProviderTimeout
from control_plane.billing.idempotency import IdempotencyStore, StoredAnswer
from control_plane.billing.ledger import EntryKind, Ledger
from control_plane.billing.payments import PaymentProvider, TestPaymentProvider
from control_plane.billing.plans import BillingSettings, Plan
from control_plane.billing.subscriptions import Subscription, SubscriptionStatus, SubscriptionStore
from control_plane.common.errors import Conflict, NotFound
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Billing:
    """Everything an operation needs; built once per process."""

    settings: BillingSettings
    subscriptions: SubscriptionStore
    ledger: Ledger
    idempotency: IdempotencyStore
    payments: PaymentProvider
    clock: Callable[[], datetime] = field(default=_now)

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.settings.period_days)


def billing_from_settings(settings: ServiceSettings) -> Billing:
    return Billing(
        settings=BillingSettings(),
        subscriptions=SubscriptionStore.from_settings(settings),
        ledger=Ledger.from_settings(settings),
        idempotency=IdempotencyStore.from_settings(settings),
        # The only provider shipped; a real one implements payments.PaymentProvider.
        payments=TestPaymentProvider(),
    )


class Entitlement(BaseModel):
    entitled: bool
    plan_id: str | None = None
    max_rendition: str | None = None
    until: datetime | None = None


def _answer(status_code: int, subscription: Subscription) -> StoredAnswer:
    return StoredAnswer(status_code=status_code, body=subscription.model_dump(mode="json"))


def charge_and_record(
    billing: Billing, *, sub: Subscription, plan: Plan, amount: int, key: str
) -> str:
    """Charge `amount`; ledger the outcome; the charge id, or PaymentDeclined/Timeout."""
    try:
        charge = billing.payments.charge(
            account_id=sub.account_id,
            amount_cents=amount,
            currency=plan.currency,
            payment_method=sub.payment_method,
            idempotency_key=key,
        )
    except PaymentDeclined:
        billing.ledger.append(
            account_id=sub.account_id,
            kind=EntryKind.DECLINED,
            plan_id=plan.plan_id,
            amount_cents=amount,
            currency=plan.currency,
            idempotency_key=key,
        )
        raise
    billing.ledger.append(
        account_id=sub.account_id,
        kind=EntryKind.CHARGED,
        plan_id=plan.plan_id,
        amount_cents=amount,
        currency=plan.currency,
        charge_id=charge.charge_id,
        idempotency_key=key,
    )
    return charge.charge_id


def subscribe(
    billing: Billing, *, account_id: str, plan_id: str, payment_method: str, idempotency_key: str
) -> StoredAnswer:
    """Start a subscription and charge the first period (201), at most once per key."""
    key = f"{account_id}:{idempotency_key}"

    def operation() -> StoredAnswer:
        plan = billing.settings.plan(plan_id)
        now = billing.clock()
        pending = Subscription(
            account_id=account_id,
            plan_id=plan.plan_id,
            status=SubscriptionStatus.PENDING,
            current_period_end=now,
            payment_method=payment_method,
        )
        billing.subscriptions.claim(pending)
        try:
            charge_and_record(
                billing, sub=pending, plan=plan, amount=plan.monthly_price_cents, key=key
            )
        except (PaymentDeclined, PaymentProviderTimeout):
            billing.subscriptions.delete_pending(pending)
            raise
        active = billing.subscriptions.replace(
            pending,
            pending.model_copy(
                update={
                    "status": SubscriptionStatus.ACTIVE,
                    "current_period_end": now + billing.period,
                }
            ),
        )
        billing.ledger.append(
            account_id=account_id, kind=EntryKind.SUBSCRIBED, plan_id=plan.plan_id
        )
        return _answer(201, active)

    request = {"op": "subscribe", "plan_id": plan_id, "payment_method": payment_method}
    return billing.idempotency.run(key=key, request=request, operation=operation)


def change_plan(
    billing: Billing, *, account_id: str, plan_id: str, idempotency_key: str
) -> StoredAnswer:
    """Switch plans now; an upgrade charges the price difference for the rest of the period."""
    key = f"{account_id}:{idempotency_key}"

    def operation() -> StoredAnswer:
        current = _live(billing, account_id)
        new_plan = billing.settings.plan(plan_id)
        if new_plan.plan_id == current.plan_id:
            return _answer(200, current)
        old_plan = billing.settings.plan(current.plan_id)
        now = billing.clock()
        remaining = max(timedelta(0), current.current_period_end - now) / billing.period
        difference = new_plan.monthly_price_cents - old_plan.monthly_price_cents
        amount = round(difference * min(1.0, remaining))
        if amount > 0:
            charge_and_record(billing, sub=current, plan=new_plan, amount=amount, key=key)
        changed = billing.subscriptions.replace(
            current, current.model_copy(update={"plan_id": new_plan.plan_id})
        )
        billing.ledger.append(
            account_id=account_id, kind=EntryKind.PLAN_CHANGED, plan_id=new_plan.plan_id
        )
        return _answer(200, changed)

    request = {"op": "change_plan", "plan_id": plan_id}
    return billing.idempotency.run(key=key, request=request, operation=operation)


def cancel(billing: Billing, *, account_id: str) -> Subscription:
    """Stop renewing; service continues to the end of the paid period. Repeating is harmless."""
    current = _live(billing, account_id)
    if current.cancel_at_period_end:
        return current
    cancelled = billing.subscriptions.replace(
        current, current.model_copy(update={"cancel_at_period_end": True})
    )
    billing.ledger.append(account_id=account_id, kind=EntryKind.CANCELLED, plan_id=current.plan_id)
    return cancelled


def entitlement(billing: Billing, *, account_id: str) -> Entitlement:
    """Whether the account may play now, and the best rendition its plan allows."""
    sub = billing.subscriptions.get(account_id)
    now = billing.clock()
    if sub is None or sub.status is not SubscriptionStatus.ACTIVE or sub.current_period_end <= now:
        return Entitlement(entitled=False)
    plan = billing.settings.plan(sub.plan_id)
    return Entitlement(
        entitled=True,
        plan_id=plan.plan_id,
        max_rendition=plan.max_rendition,
        until=sub.current_period_end,
    )


def _live(billing: Billing, account_id: str) -> Subscription:
    current = billing.subscriptions.get(account_id)
    if current is None or current.status in (
        SubscriptionStatus.CANCELLED,
        SubscriptionStatus.PENDING,
    ):
        raise NotFound("this account has no subscription; subscribe first")
    if current.status is SubscriptionStatus.PAST_DUE:
        raise Conflict("the last renewal was declined; subscribe again with a working card")
    return current
