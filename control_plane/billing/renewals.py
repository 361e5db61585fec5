"""The scheduled renewal job: charge every subscription whose period ended, exactly once."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from control_plane.billing.errors import PaymentDeclined, PaymentProviderTimeout
from control_plane.billing.idempotency import StoredAnswer
from control_plane.billing.ledger import EntryKind
from control_plane.billing.service import Billing, billing_from_settings, charge_and_record
from control_plane.billing.subscriptions import Subscription, SubscriptionStatus
from control_plane.common.errors import Conflict
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)


@dataclass
class RenewalReport:
    renewed: int = 0
    lapsed: int = 0
    declined: int = 0
    retry_later: int = 0


def renew_due(billing: Billing) -> RenewalReport:
    """Renew, lapse or mark past due every subscription whose period has ended."""
    report = RenewalReport()
    for sub in billing.subscriptions.due(billing.clock()):
        if sub.cancel_at_period_end:
            _end(billing, sub, SubscriptionStatus.CANCELLED)
            report.lapsed += 1
            continue
        try:
            answer = _renew(billing, sub)
        except (PaymentProviderTimeout, Conflict) as exc:
            logger.warning("renewal of %s deferred to the next run: %s", sub.account_id, exc)
            report.retry_later += 1
            continue
        if answer.status_code == PaymentDeclined.status_code:
            _end(billing, sub, SubscriptionStatus.PAST_DUE)
            report.declined += 1
        else:
            report.renewed += 1
    logger.info("renewals: %s", report)
    return report


def _renew(billing: Billing, sub: Subscription) -> StoredAnswer:
    """Charge the next period, once per (account, period) however often the job runs."""
    plan = billing.settings.plan(sub.plan_id)
    key = f"renewal:{sub.account_id}:{sub.current_period_end.isoformat()}"

    def operation() -> StoredAnswer:
        charge_and_record(billing, sub=sub, plan=plan, amount=plan.monthly_price_cents, key=key)
        next_end = sub.current_period_end + billing.period
        renewed = billing.subscriptions.replace(
            sub, sub.model_copy(update={"current_period_end": next_end})
        )
        billing.ledger.append(
            account_id=sub.account_id, kind=EntryKind.RENEWED, plan_id=plan.plan_id
        )
        return StoredAnswer(status_code=200, body=renewed.model_dump(mode="json"))

    return billing.idempotency.run(
        key=key, request={"op": "renew", "account": sub.account_id}, operation=operation
    )


def _end(billing: Billing, sub: Subscription, status: SubscriptionStatus) -> None:
    billing.subscriptions.replace(sub, sub.model_copy(update={"status": status}))
    billing.ledger.append(account_id=sub.account_id, kind=EntryKind.LAPSED, plan_id=sub.plan_id)


def run_renewals(settings: ServiceSettings) -> dict[str, int]:
    """EventBridge's entry point (and the lab's timer): one pass over due subscriptions."""
    return asdict(renew_due(billing_from_settings(settings)))
