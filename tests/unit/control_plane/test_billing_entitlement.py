"""The entitlement reader: subscription store and plans only, usable without payment settings."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from control_plane.billing.entitlement import EntitlementReader
from control_plane.billing.errors import BillingConfigurationError
from control_plane.billing.plans import BillingSettings
from control_plane.billing.service import billing_from_settings
from control_plane.billing.subscriptions import Subscription, SubscriptionStatus, SubscriptionStore
from control_plane.common.errors import NotFound
from control_plane.common.settings import Environment, ServiceSettings
from control_plane.playback.app import create_app

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def reader(stack: ServiceSettings) -> EntitlementReader:
    return EntitlementReader(
        subscriptions=SubscriptionStore.from_settings(stack),
        plans=BillingSettings(),
        clock=lambda: NOW,
    )


def store_pending_then(
    stack: ServiceSettings, *, status: SubscriptionStatus, period_end: datetime, plan_id: str
) -> None:
    store = SubscriptionStore.from_settings(stack)
    pending = Subscription(
        account_id="acct-1",
        plan_id=plan_id,
        status=SubscriptionStatus.PENDING,
        current_period_end=NOW,
        payment_method="pm_test_visa",
        charge_key="key-1",
        created_at=NOW,
    )
    store.claim(pending)
    if status is SubscriptionStatus.PENDING:
        return
    active = store.activate(pending, period_end=period_end)
    if status is not SubscriptionStatus.ACTIVE:
        store.replace(active, active.model_copy(update={"status": status}))


def test_no_subscription_is_not_entitled(stack: ServiceSettings) -> None:
    assert reader(stack).check(account_id="nobody").entitled is False


@pytest.mark.parametrize(
    ("status", "period_end", "entitled"),
    [
        (SubscriptionStatus.ACTIVE, NOW + timedelta(days=3), True),
        (SubscriptionStatus.ACTIVE, NOW, False),  # the period ended this instant
        (SubscriptionStatus.ACTIVE, NOW - timedelta(seconds=1), False),
        (SubscriptionStatus.PENDING, NOW + timedelta(days=3), False),
        (SubscriptionStatus.PAST_DUE, NOW + timedelta(days=3), False),
        (SubscriptionStatus.CANCELLED, NOW + timedelta(days=3), False),
    ],
)
def test_only_an_active_unexpired_subscription_entitles(
    stack: ServiceSettings, status: SubscriptionStatus, period_end: datetime, entitled: bool
) -> None:
    store_pending_then(stack, status=status, period_end=period_end, plan_id="standard")

    answer = reader(stack).check(account_id="acct-1")

    assert answer.entitled is entitled
    if entitled:
        assert (answer.plan_id, answer.max_rendition, answer.until) == (
            "standard",
            "240p",
            period_end,
        )
    else:
        assert answer.max_rendition is None


def test_a_plan_the_catalogue_no_longer_has_is_a_clear_error(stack: ServiceSettings) -> None:
    store_pending_then(
        stack,
        status=SubscriptionStatus.ACTIVE,
        period_end=NOW + timedelta(days=1),
        plan_id="retired-plan",
    )
    with pytest.raises(NotFound, match="retired-plan"):
        reader(stack).check(account_id="acct-1")


def test_the_playback_app_needs_no_payment_settings(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("EDGEFILL_PAYMENT_"):
            monkeypatch.delenv(name)
    production = stack.model_copy(
        update={
            "environment": Environment.PRODUCTION,
            "admin_token": SecretStr("admin-token-0123456789"),
            "url_signing_secret": SecretStr("url-signing-secret-0123456789"),
            "session_secret": SecretStr("session-secret-0123456789"),
        }
    )
    # Billing itself refuses to start: the default provider approves any card.
    with pytest.raises(BillingConfigurationError, match="EDGEFILL_PAYMENT_PROVIDER"):
        billing_from_settings(production)

    app = create_app(production)

    assert isinstance(app.state.playback.entitlements, EntitlementReader)
