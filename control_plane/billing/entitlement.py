"""Whether an account may play now: the entitlement reader other domains depend on.

It reads the subscription store and the plan catalogue and nothing else: no payment provider,
no ledger, no idempotency store, so a service that only asks "may this account play, and up to
which rendition" (playback) needs neither the payment settings nor the billing functions' grants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from control_plane.billing.plans import BillingSettings
from control_plane.billing.subscriptions import SubscriptionStatus, SubscriptionStore
from control_plane.common.clock import utc_now
from control_plane.common.settings import ServiceSettings


class Entitlement(BaseModel):
    entitled: bool
    plan_id: str | None = None
    max_rendition: str | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class EntitlementReader:
    """Answers `check(account_id=...)` from the subscription store and the plans."""

    subscriptions: SubscriptionStore
    plans: BillingSettings
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> EntitlementReader:
        return cls(subscriptions=SubscriptionStore.from_settings(settings), plans=BillingSettings())

    def check(self, *, account_id: str) -> Entitlement:
        """Whether the account may play now, and the best rendition its plan allows."""
        sub = self.subscriptions.get(account_id)
        now = self.clock()
        if (
            sub is None
            or sub.status is not SubscriptionStatus.ACTIVE
            or sub.current_period_end <= now
        ):
            return Entitlement(entitled=False)
        plan = self.plans.plan(sub.plan_id)
        return Entitlement(
            entitled=True,
            plan_id=plan.plan_id,
            max_rendition=plan.max_rendition,
            until=sub.current_period_end,
        )
