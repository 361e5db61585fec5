"""The reconciler job: settles subscribe attempts and plan changes nobody finished, so no
charge is left behind.

A plan change claimed on a row (`PendingChange`) more than `PENDING_GRACE` ago is settled by
asking the provider for its charge: applied when paid (refunded instead when its period renewed
meanwhile), dropped when not (`service.settle_change`).

A PENDING row older than `PENDING_GRACE` belongs to an attempt that failed after its claim and
was not retried. Its `charge_key` is the provider's key, so the provider says what happened:

- a charge exists: complete the subscription (ledger it, activate it); if the row can no longer
  be activated, the charge is refunded
- the charge was already refunded, or none exists: delete the PENDING row

Renewals need no reconciler: a failed renewal leaves the subscription due, and the next run
repeats it with the same key.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta

from control_plane.billing.service import (
    PENDING_GRACE,
    Billing,
    SubscriptionAbandoned,
    billing_from_settings,
    complete_subscription,
    record_charge,
    settle_change,
)
from control_plane.billing.subscriptions import Subscription
from control_plane.common.errors import Conflict, ControlPlaneError
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    activated: int = 0
    refunded: int = 0
    removed: int = 0
    retry_later: int = 0
    needs_operator: int = 0
    changes_settled: int = 0


def reconcile(billing: Billing, *, older_than: timedelta = PENDING_GRACE) -> ReconcileReport:
    """Settle every PENDING subscription claimed more than `older_than` ago."""
    report = ReconcileReport()
    for claimed in billing.subscriptions.changes_since(billing.clock() - older_than):
        try:
            before = claimed.plan_id
            after = settle_change(billing, claimed)
            report.changes_settled += 1
            logger.info(
                "settled the plan change of %s: %s -> %s", claimed.account_id, before, after.plan_id
            )
        except ControlPlaneError as exc:
            if not (isinstance(exc, Conflict) or exc.status_code >= 500):
                raise
            logger.warning("could not settle the change of %s yet: %s", claimed.account_id, exc)
            report.retry_later += 1
    for pending in billing.subscriptions.pending_since(billing.clock() - older_than):
        try:
            _settle(billing, pending, report)
        except ControlPlaneError as exc:
            if not (isinstance(exc, Conflict) or exc.status_code >= 500):
                raise
            logger.warning("could not settle %s yet: %s", pending.account_id, exc)
            report.retry_later += 1
    logger.info("reconcile: %s", report)
    return report


def _settle(billing: Billing, pending: Subscription, report: ReconcileReport) -> None:
    if pending.charge_key is None:
        # Written before rows carried their key: the provider cannot be asked. Leave it.
        logger.error(
            "pending subscription of %s has no charge key; check the provider by hand",
            pending.account_id,
        )
        report.needs_operator += 1
        return
    charge = billing.payments.find_charge(pending.charge_key)
    if charge is None or charge.refunded:
        billing.subscriptions.delete_pending(pending)
        logger.info("removed the unpaid pending subscription of %s", pending.account_id)
        report.removed += 1
        return
    record_charge(billing, charge=charge, plan_id=pending.plan_id)  # if the crash beat it
    try:
        complete_subscription(billing, pending=pending, charge=charge)
    except SubscriptionAbandoned:
        report.refunded += 1
        return
    logger.info("activated the paid pending subscription of %s", pending.account_id)
    report.activated += 1


def run_reconcile(settings: ServiceSettings) -> dict[str, int]:
    """EventBridge's entry point (and the lab's timer): one pass over stale PENDING rows."""
    return asdict(reconcile(billing_from_settings(settings)))
