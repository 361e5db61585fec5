"""The scheduled renewal job: charge every subscription whose period ended, exactly once.

Per subscription and period: claim the period's idempotency key; charge with the key
`renewal:<account>:<period end>` (the provider charges once per key); ledger the charge and
the renewal (once each); advance the period with a write conditional on (version, period
end); store the answer. A failure after any step leaves the subscription due, so the next run
repeats the steps with the same key and finishes; two runs at once advance it once.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from control_plane.billing.errors import PaymentDeclined
from control_plane.billing.idempotency import StoredAnswer
from control_plane.billing.ledger import EntryKind
from control_plane.billing.service import (
    AFTER_CHARGE,
    Billing,
    billing_from_settings,
    charge_and_record,
    refund_charge,
)
from control_plane.billing.subscriptions import Subscription, SubscriptionStatus
from control_plane.common.errors import Conflict, ControlPlaneError, Unavailable
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)


class RenewalDeferred(Unavailable):
    code = "renewal_deferred"


@dataclass
class RenewalReport:
    renewed: int = 0
    lapsed: int = 0
    declined: int = 0
    retry_later: int = 0


def renewal_key(sub: Subscription) -> str:
    """The provider and idempotency key of `sub`'s renewal for the period ending now."""
    return f"renewal:{sub.account_id}:{sub.current_period_end.isoformat()}"


def renew_due(billing: Billing) -> RenewalReport:
    """Renew, lapse or mark past due every subscription whose period has ended."""
    report = RenewalReport()
    for sub in billing.subscriptions.due(billing.clock()):
        try:
            if sub.cancel_at_period_end:
                _lapse(billing, sub)
                report.lapsed += 1
                continue
            answer = renew(billing, sub)
            if answer.status_code == PaymentDeclined.status_code:
                _end(billing, sub, SubscriptionStatus.PAST_DUE)
                report.declined += 1
            else:
                report.renewed += 1
        except ControlPlaneError as exc:
            if not (isinstance(exc, Conflict) or exc.status_code >= 500):
                raise
            logger.warning("renewal of %s deferred to the next run: %s", sub.account_id, exc)
            report.retry_later += 1
    logger.info("renewals: %s", report)
    return report


def renew(billing: Billing, sub: Subscription) -> StoredAnswer:
    """Charge the next period, once per (account, period) however often the job runs."""
    plan = billing.settings.plan(sub.plan_id)
    key = renewal_key(sub)

    def operation() -> StoredAnswer:
        charge = charge_and_record(
            billing, sub=sub, plan=plan, amount=plan.monthly_price_cents, key=key
        )
        # Ledgered before the advance: once the period moves on, nothing would retry it.
        billing.ledger.append(
            account_id=sub.account_id,
            kind=EntryKind.RENEWED,
            plan_id=plan.plan_id,
            at=charge.created + AFTER_CHARGE,
            once_key=key,
        )
        return StoredAnswer(status_code=200, body=_advance(billing, sub).model_dump(mode="json"))

    return billing.idempotency.run(
        key=key, request={"op": "renew", "account": sub.account_id}, operation=operation
    )


def next_period_end(sub: Subscription, *, period: timedelta, now: datetime) -> datetime:
    """Where the renewed period ends: one period after the last, or, when the job fell behind
    by more than a whole period, one period from now. A backlog is renewed once, from now: the
    account was not entitled while it was overdue and is never charged for that time."""
    following = sub.current_period_end + period
    return following if following > now else now + period


def _advance(billing: Billing, sub: Subscription) -> Subscription:
    next_end = next_period_end(sub, period=billing.period, now=billing.clock())
    try:
        return billing.subscriptions.advance(sub, period_end=next_end)
    except Conflict:
        current = billing.subscriptions.get(sub.account_id)
        if (
            current is not None
            and current.status is SubscriptionStatus.ACTIVE
            and current.current_period_end > sub.current_period_end
        ):
            return current  # another run (or an earlier attempt) advanced it
        raise RenewalDeferred(
            f"the subscription of {sub.account_id} changed while it renewed; the next run "
            "finishes the renewal with the same charge"
        ) from None


def _lapse(billing: Billing, sub: Subscription) -> None:
    """End a cancelled subscription; a renewal charged before the cancel is given back."""
    charge = billing.payments.find_charge(renewal_key(sub))
    if charge is not None and not charge.refunded:
        refund_charge(billing, charge=charge, plan_id=sub.plan_id)
    _end(billing, sub, SubscriptionStatus.CANCELLED)


def _end(billing: Billing, sub: Subscription, status: SubscriptionStatus) -> None:
    billing.subscriptions.replace(sub, sub.model_copy(update={"status": status}))
    billing.ledger.append(account_id=sub.account_id, kind=EntryKind.LAPSED, plan_id=sub.plan_id)


def run_renewals(settings: ServiceSettings) -> dict[str, int]:
    """EventBridge's entry point (and the lab's timer): one pass over due subscriptions."""
    return asdict(renew_due(billing_from_settings(settings)))
