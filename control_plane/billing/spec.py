"""The billing service's registry entry and tables (no FastAPI import here)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec
from control_plane.services import RouteAuth, RoutePrefix, ScheduledJob, ServiceSpec

SUBSCRIPTIONS_TABLE = TableSpec(
    name="billing-subscriptions", hash_key=KeyAttribute(name="account_id")
)
# Append-only: entries are only ever put with attribute_not_exists; nothing updates or deletes.
LEDGER_TABLE = TableSpec(
    name="billing-ledger",
    hash_key=KeyAttribute(name="account_id"),
    range_key=KeyAttribute(name="entry_id"),
)
IDEMPOTENCY_TABLE = TableSpec(
    name="billing-idempotency", hash_key=KeyAttribute(name="key"), ttl_attribute="expires_at"
)

SERVICE = ServiceSpec(
    name="billing",
    app_factory="control_plane.billing.app:create_app",
    tables=(SUBSCRIPTIONS_TABLE, LEDGER_TABLE, IDEMPOTENCY_TABLE),
    routes=(RoutePrefix(prefix="/billing", auth=RouteAuth.SUBSCRIBER),),
    jobs=(
        ScheduledJob(
            name="billing-renewals",
            function="control_plane.billing.renewals:run_renewals",
            schedule="cron(15 * * * ? *)",
        ),
        ScheduledJob(
            name="billing-reconcile",
            function="control_plane.billing.reconcile:run_reconcile",
            schedule="cron(5/15 * * * ? *)",
        ),
    ),
    uses_payment_secret=True,  # EDGEFILL_PAYMENT_SECRET_ARN: the provider's credentials
)
