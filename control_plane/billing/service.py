"""Billing operations: subscribe, change plan, cancel, renew, and the entitlement check.

Money moves only inside `IdempotencyStore.run`, keyed by the caller's Idempotency-Key (or, for
renewals, by account and period), and the provider gets the same key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from control_plane.billing.entitlement import Entitlement, EntitlementReader
from control_plane.billing.errors import PaymentDeclined
from control_plane.billing.idempotency import IdempotencyStore, StoredAnswer
from control_plane.billing.ledger import EntryKind, Ledger
from control_plane.billing.payments import Charge, PaymentProvider
from control_plane.billing.plans import BillingSettings, Plan
from control_plane.billing.providers import load_payment_settings, payment_provider
from control_plane.billing.subscriptions import (
    PendingChange,
    Subscription,
    SubscriptionStatus,
    SubscriptionStore,
)
from control_plane.common.clock import utc_now
from control_plane.common.errors import Conflict, NotFound, Unavailable
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Billing:
    """Everything an operation needs; built once per process."""

    settings: BillingSettings
    subscriptions: SubscriptionStore
    ledger: Ledger
    idempotency: IdempotencyStore
    payments: PaymentProvider
    clock: Callable[[], datetime] = field(default=utc_now)

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.settings.period_days)


def billing_from_settings(settings: ServiceSettings) -> Billing:
    """The process's Billing; BillingConfigurationError if the payment settings are unusable
    (among them: the test provider, which approves anything, in production)."""
    return Billing(
        settings=BillingSettings(),
        subscriptions=SubscriptionStore.from_settings(settings),
        ledger=Ledger.from_settings(settings),
        idempotency=IdempotencyStore.from_settings(settings),
        payments=payment_provider(
            load_payment_settings(settings), environment=settings.environment
        ),
    )


def _answer(status_code: int, subscription: Subscription) -> StoredAnswer:
    return StoredAnswer(status_code=status_code, body=subscription.model_dump(mode="json"))


# Entries that follow a charge are stamped just after it, so they sort after it and a retry
# (which gets the same charge back from the provider) writes the same entry ids.
AFTER_CHARGE = timedelta(microseconds=1)


class SubscriptionAbandoned(Conflict):
    code = "subscription_abandoned"


def charge_and_record(
    billing: Billing, *, sub: Subscription, plan: Plan, amount: int, key: str
) -> Charge:
    """Charge `amount` with the provider key `key`; ledger the outcome once; the charge, or
    PaymentDeclined/PaymentProviderTimeout. Safe to repeat: the provider deduplicates by key."""
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
            at=billing.clock(),
            amount_cents=amount,
            currency=plan.currency,
            idempotency_key=key,
        )
        raise
    record_charge(billing, charge=charge, plan_id=plan.plan_id)
    return charge


def record_charge(billing: Billing, *, charge: Charge, plan_id: str) -> None:
    """Ledger a charge, once however often it is recorded (the reconciler records it too)."""
    billing.ledger.append(
        account_id=charge.account_id,
        kind=EntryKind.CHARGED,
        plan_id=plan_id,
        at=charge.created,
        amount_cents=charge.amount_cents,
        currency=charge.currency,
        charge_id=charge.charge_id,
        idempotency_key=charge.idempotency_key,
        once_key=charge.idempotency_key,
    )


def refund_charge(billing: Billing, *, charge: Charge, plan_id: str) -> None:
    """Give a charge's money back (once: the refund has a key of its own) and ledger it once."""
    refund = billing.payments.refund(
        charge_id=charge.charge_id, idempotency_key=f"refund:{charge.idempotency_key}"
    )
    billing.ledger.append(
        account_id=charge.account_id,
        kind=EntryKind.REFUNDED,
        plan_id=plan_id,
        at=max(refund.created, charge.created + 2 * AFTER_CHARGE),  # sorts after its charge
        amount_cents=-refund.amount_cents,
        currency=charge.currency,
        charge_id=charge.charge_id,
        idempotency_key=charge.idempotency_key,
        once_key=charge.idempotency_key,
    )
    logger.warning("refunded charge %s of %s", charge.charge_id, charge.account_id)


def complete_subscription(
    billing: Billing, *, pending: Subscription, charge: Charge
) -> Subscription:
    """Activate the PENDING row `charge` paid for (the request, its retry or the reconciler).

    If someone else activated it, their result is ours. If the row is gone (the reconciler
    settled it as unpaid while this charge ran), nothing will ever activate it: refund.
    """
    billing.ledger.append(
        account_id=pending.account_id,
        kind=EntryKind.SUBSCRIBED,
        plan_id=pending.plan_id,
        at=charge.created + AFTER_CHARGE,
        once_key=charge.idempotency_key,
    )
    try:
        return billing.subscriptions.activate(pending, period_end=billing.clock() + billing.period)
    except Conflict:
        current = billing.subscriptions.get(pending.account_id)
        if current is not None and current.charge_key == pending.charge_key:
            if current.status is not SubscriptionStatus.PENDING:
                return current
            # Still ours, but a newer version (a concurrent retry moved it): try once more.
            try:
                return billing.subscriptions.activate(
                    current, period_end=billing.clock() + billing.period
                )
            except Conflict:
                # Not a final answer: the charge stands, a retry or the reconciler finishes.
                raise Unavailable(
                    "the subscription is being activated concurrently; retry with the same "
                    "Idempotency-Key"
                ) from None
    refund_charge(billing, charge=charge, plan_id=pending.plan_id)
    raise SubscriptionAbandoned(
        "this subscription attempt expired and its charge was refunded; "
        "subscribe again with a new Idempotency-Key"
    )


# A claim refused by a row that vanished before we read it is tried again this many times.
_CLAIM_ATTEMPTS = 3


def _claim_or_resume(
    billing: Billing, *, account_id: str, plan: Plan, payment_method: str, key: str
) -> Subscription:
    """A new PENDING row carrying `key`, or the row an earlier attempt with `key` left."""
    now = billing.clock()
    pending = Subscription(
        account_id=account_id,
        plan_id=plan.plan_id,
        status=SubscriptionStatus.PENDING,
        current_period_end=now,
        payment_method=payment_method,
        charge_key=key,
        created_at=now,
    )
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            billing.subscriptions.claim(pending)
            return pending
        except Conflict:
            current = billing.subscriptions.get(account_id)
            if current is None:
                # The row that refused the claim was removed meanwhile (the reconciler
                # dropping an unpaid attempt): claim again, never answer 409 for it.
                continue
            if current.charge_key != key:
                raise
            logger.info("resuming the subscription attempt of %s", account_id)
            if current.status is not SubscriptionStatus.PENDING:
                return current
            try:
                return billing.subscriptions.renew_claim(current, now=now)
            except Conflict:
                break  # the reconciler settled or removed the row meanwhile
    # Not a final answer: the 503 releases the key for a retry with it.
    raise Unavailable(
        "this subscription attempt is being settled; retry with the same Idempotency-Key"
    )


def subscribe(
    billing: Billing, *, account_id: str, plan_id: str, payment_method: str, idempotency_key: str
) -> StoredAnswer:
    """Start a subscription and charge the first period (201), at most once per key.

    Steps: claim a PENDING row carrying the key; charge with the same key; ledger the charge;
    ledger the subscription; activate; store the answer. A failure after any step leaves
    state a retry with the same key (or `reconcile.reconcile`) carries to the end: the retry
    resumes its own PENDING row, the provider returns the first charge, the ledger keeps
    one entry per step, and an already active row is the answer.
    """
    key = f"{account_id}:{idempotency_key}"

    def operation() -> StoredAnswer:
        plan = billing.settings.plan(plan_id)
        pending = _claim_or_resume(
            billing, account_id=account_id, plan=plan, payment_method=payment_method, key=key
        )
        if pending.status is not SubscriptionStatus.PENDING:
            return _answer(201, pending)  # an earlier attempt (or the reconciler) finished it
        try:
            charge = charge_and_record(
                billing, sub=pending, plan=plan, amount=plan.monthly_price_cents, key=key
            )
        except PaymentDeclined:
            billing.subscriptions.delete_pending(pending)
            raise
        # A timeout leaves the PENDING row: the retry resumes it, or the reconciler settles it.
        if charge.refunded:  # a replay of a key whose charge was already given back
            billing.subscriptions.delete_pending(pending)
            raise SubscriptionAbandoned(
                "this subscription attempt was refunded; subscribe again with a new Idempotency-Key"
            )
        return _answer(201, complete_subscription(billing, pending=pending, charge=charge))

    request = {"op": "subscribe", "plan_id": plan_id, "payment_method": payment_method}
    return billing.idempotency.run(key=key, request=request, operation=operation)


class RenewalPending(Unavailable):
    """A plan change asked for between the end of a period and its renewal: retry shortly."""

    code = "renewal_pending"


class PlanChangeInProgress(Unavailable):
    """Another request's plan change is being settled; retry shortly."""

    code = "plan_change_in_progress"


class PlanChangeAbandoned(Conflict):
    """The change's charge was refunded (its claim was settled as unpaid, or the period it
    paid for renewed meanwhile): change the plan again with a new key."""

    code = "plan_change_abandoned"


def change_plan(
    billing: Billing, *, account_id: str, plan_id: str, idempotency_key: str
) -> StoredAnswer:
    """Switch plans now; an upgrade charges the price difference for the rest of the period.

    An upgrade is claimed on the row first (`PendingChange`: plan, amount, key, period), then
    charged with the key, then applied; a failure after any step leaves the claim, which the
    same key's retry carries to the end, and which a request with another key or the
    reconciler settles once it is older than PENDING_GRACE: applied if the provider has its
    charge, dropped if not. A charge whose claim is gone when it is applied is refunded.
    """
    key = f"{account_id}:{idempotency_key}"

    def operation() -> StoredAnswer:
        current = _live(billing, account_id)
        change = current.pending_change
        if change is not None and change.charge_key != key:
            if change.claimed_at > billing.clock() - PENDING_GRACE:
                raise PlanChangeInProgress(
                    "another plan change of this account is being charged; retry in a minute"
                )
            current = settle_change(billing, current)
        if current.pending_change is None or current.pending_change.charge_key != key:
            new_plan = billing.settings.plan(plan_id)
            if new_plan.plan_id == current.plan_id:
                return _answer(200, current)
            current = _claim_change(billing, current, new_plan, key=key)
            if current.pending_change is None:  # a downgrade, applied as is
                return _answer(200, current)
        change = current.pending_change
        if change is None:
            raise RuntimeError("a claimed plan change has no pending change on its row")
        charge = charge_and_record(
            billing,
            sub=current,
            plan=billing.settings.plan(change.plan_id),
            amount=change.amount_cents,
            key=key,
        )
        return _answer(200, apply_change(billing, current, charge))

    request = {"op": "change_plan", "plan_id": plan_id}
    return billing.idempotency.run(key=key, request=request, operation=operation)


# Far longer than a request can run (Lambda's timeout), the idempotency claim's takeover and a
# provider's search lag: only then does anyone but the request settle what it started.
PENDING_GRACE = timedelta(minutes=15)


def _claim_change(
    billing: Billing, current: Subscription, new_plan: Plan, *, key: str
) -> Subscription:
    """The row with this upgrade claimed on it; a downgrade (nothing to charge) applied."""
    old_plan = billing.settings.plan(current.plan_id)
    now = billing.clock()
    if current.current_period_end <= now:
        # The period ended and its renewal (charged at the plan in force at its start) has
        # not moved it on yet: switching now would let the renewal's charge for the old
        # plan pay for a period of the new one. Not stored: the same key works once due
        # renewals ran.
        raise RenewalPending(
            "this subscription's period has ended and its renewal is not finished; change "
            "the plan again in a few minutes with the same Idempotency-Key"
        )
    remaining = (current.current_period_end - now) / billing.period
    difference = new_plan.monthly_price_cents - old_plan.monthly_price_cents
    amount = round(difference * min(1.0, remaining))
    if amount <= 0:
        billing.ledger.append(
            account_id=current.account_id, kind=EntryKind.PLAN_CHANGED, plan_id=new_plan.plan_id
        )
        return billing.subscriptions.replace(
            current, current.model_copy(update={"plan_id": new_plan.plan_id})
        )
    change = PendingChange(
        plan_id=new_plan.plan_id,
        amount_cents=amount,
        charge_key=key,
        period_end=current.current_period_end,
        claimed_at=now,
    )
    return billing.subscriptions.replace(
        current, current.model_copy(update={"pending_change": change})
    )


def apply_change(billing: Billing, row: Subscription, charge: Charge) -> Subscription:
    """Apply the change `charge` paid for, once; refund it when nobody can apply it any more.

    Applied by someone else (a retry, the reconciler): that result is ours. The claim dropped
    as unpaid, the charge refunded already, or the period it paid for renewed meanwhile: the
    money goes back (PlanChangeAbandoned).
    """
    change = row.pending_change
    if change is None or change.charge_key != charge.idempotency_key:
        raise RuntimeError("applying a plan change whose row does not name this charge")
    refunded = charge.refunded
    for _ in range(2):  # our row, or one more time after a concurrent write (a cancel)
        current = billing.subscriptions.get(row.account_id)
        if current is not None and current.applied_change_key == change.charge_key:
            return current
        if (
            current is None
            or current.pending_change is None
            or current.pending_change.charge_key != change.charge_key
        ):
            break  # dropped as unpaid meanwhile: nobody will apply it
        if refunded or current.current_period_end != change.period_end:
            # Refund first: a refund that fails leaves the claim, so the same key's retry or
            # the reconciler tries again; only a confirmed refund drops it.
            if not refunded:
                refund_charge(billing, charge=charge, plan_id=change.plan_id)
                refunded = True
            try:
                billing.subscriptions.replace(
                    current, current.model_copy(update={"pending_change": None})
                )
            except Conflict:
                continue
            break
        billing.ledger.append(
            account_id=row.account_id,
            kind=EntryKind.PLAN_CHANGED,
            plan_id=change.plan_id,
            at=charge.created + AFTER_CHARGE,
            once_key=change.charge_key,
        )
        try:
            return billing.subscriptions.replace(
                current,
                current.model_copy(
                    update={
                        "plan_id": change.plan_id,
                        "pending_change": None,
                        "applied_change_key": change.charge_key,
                    }
                ),
            )
        except Conflict:
            continue
    else:
        raise Unavailable("the subscription is changing concurrently; retry with the same key")
    if not refunded:
        refund_charge(billing, charge=charge, plan_id=change.plan_id)
    raise PlanChangeAbandoned(
        "this plan change could not be applied (it was settled as unpaid, or its period renewed "
        "meanwhile) and its charge was refunded; change the plan again with a new "
        "Idempotency-Key"
    )


def settle_change(billing: Billing, row: Subscription) -> Subscription:
    """Settle a stale claimed change as the reconciler does: apply it if the provider has its
    charge, drop it if not; the row as it stands afterwards."""
    change = row.pending_change
    if change is None:
        raise RuntimeError("settling a plan change on a row that has none pending")
    charge = billing.payments.find_charge(change.charge_key)
    if charge is None or charge.refunded:
        try:
            billing.subscriptions.replace(row, row.model_copy(update={"pending_change": None}))
        except Conflict:
            raise PlanChangeInProgress("the plan change is being settled; retry") from None
        logger.info("dropped the unpaid plan change of %s", row.account_id)
    else:
        record_charge(billing, charge=charge, plan_id=change.plan_id)  # if the crash beat it
        try:
            apply_change(billing, row, charge)
            logger.info("applied the paid plan change of %s", row.account_id)
        except PlanChangeAbandoned:
            logger.warning("refunded the plan change of %s", row.account_id)
    current = billing.subscriptions.get(row.account_id)
    if current is None:
        raise NotFound("this account has no subscription; subscribe first")
    return current


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
    reader = EntitlementReader(
        subscriptions=billing.subscriptions, plans=billing.settings, clock=billing.clock
    )
    return reader.check(account_id=account_id)


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
