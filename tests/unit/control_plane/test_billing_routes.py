"""Billing routes against moto: subscribe, retries, declines, timeouts, plan changes, cancel."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from control_plane.billing.app import create_app
from control_plane.billing.payments import TestPaymentProvider
from control_plane.common.settings import ServiceSettings
from tests.support.subscriber import SignedIn, signed_in_user

OK_CARD = {"plan_id": "standard", "payment_method": "pm_test_visa"}


@pytest.fixture
def client(stack: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(create_app(stack)) as client:
        yield client


@pytest.fixture
def user(stack: ServiceSettings) -> SignedIn:
    return signed_in_user(stack)


def provider(client: TestClient) -> TestPaymentProvider:
    payments: TestPaymentProvider = client.app.state.billing.payments  # type: ignore[attr-defined]
    return payments


def post_subscribe(client: TestClient, user: SignedIn, key: str, body: dict[str, str] = OK_CARD):
    return client.post(
        "/billing/subscription", json=body, headers={**user.headers, "Idempotency-Key": key}
    )


def kinds(client: TestClient, user: SignedIn) -> list[str]:
    return [e["kind"] for e in client.get("/billing/ledger", headers=user.headers).json()]


def test_plans_come_from_config(client: TestClient, user: SignedIn) -> None:
    plans = client.get("/billing/plans", headers=user.headers).json()
    assert [p["plan_id"] for p in plans] == ["basic", "standard", "premium"]


def test_subscribe_charges_once_and_a_retry_replays_the_answer(
    client: TestClient, user: SignedIn
) -> None:
    first = post_subscribe(client, user, "key-0000001")
    again = post_subscribe(client, user, "key-0000001")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert first.json()["status"] == "active" and "payment_method" not in first.json()
    assert [c.amount_cents for c in provider(client).charges] == [1549]
    assert kinds(client, user) == ["charged", "subscribed"]
    entitlement = client.get("/billing/entitlement", headers=user.headers).json()
    assert entitlement["entitled"] is True and entitlement["max_rendition"] == "240p"


def test_reusing_a_key_for_another_request_is_422(client: TestClient, user: SignedIn) -> None:
    assert post_subscribe(client, user, "key-0000002").status_code == 201
    other = post_subscribe(client, user, "key-0000002", {**OK_CARD, "plan_id": "premium"})
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"


def test_a_second_subscription_is_409(client: TestClient, user: SignedIn) -> None:
    assert post_subscribe(client, user, "key-0000003").status_code == 201
    assert post_subscribe(client, user, "key-0000004").status_code == 409
    assert len(provider(client).charges) == 1


def test_decline_is_402_ledgered_and_replayed(client: TestClient, user: SignedIn) -> None:
    declined_card = {"plan_id": "basic", "payment_method": "pm_test_decline"}
    first = post_subscribe(client, user, "key-decline1", declined_card)
    assert first.status_code == 402 and first.json()["error"] == "payment_declined"
    assert post_subscribe(client, user, "key-decline1", declined_card).json() == first.json()
    assert kinds(client, user) == ["declined"]  # the replay did not try the card again
    assert client.get("/billing/subscription", headers=user.headers).status_code == 404
    assert post_subscribe(client, user, "key-decline2").status_code == 201


def test_timeout_is_503_and_the_same_key_can_be_retried(client: TestClient, user: SignedIn) -> None:
    provider(client).timeouts_before_answer = 1
    timed_out = post_subscribe(client, user, "key-timeout1")
    assert timed_out.status_code == 503
    assert "same Idempotency-Key" in timed_out.json()["message"]
    retried = post_subscribe(client, user, "key-timeout1")
    assert retried.status_code == 201
    assert len(provider(client).charges) == 1


def test_a_key_that_failed_with_503_stays_bound_to_its_plan(
    client: TestClient, user: SignedIn
) -> None:
    premium = {"plan_id": "premium", "payment_method": "pm_test_visa"}
    provider(client).timeouts_before_answer = 1
    assert post_subscribe(client, user, "key-bound-1", premium).status_code == 503
    charges_before = len(provider(client).charges)
    reused = post_subscribe(client, user, "key-bound-1", OK_CARD)  # another plan, same key
    assert reused.status_code == 422
    assert len(provider(client).charges) == charges_before
    current = client.get("/billing/subscription", headers=user.headers)
    assert current.status_code == 404 or current.json()["plan_id"] == "premium"
    retried = post_subscribe(client, user, "key-bound-1", premium)
    assert retried.status_code == 201 and retried.json()["plan_id"] == "premium"
    assert len(provider(client).charges) == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 422), ({"Idempotency-Key": "short"}, 422), ({"Idempotency-Key": "bad key!!"}, 422)],
)
def test_money_moving_calls_need_a_good_key(
    client: TestClient, user: SignedIn, headers: dict[str, str], status: int
) -> None:
    response = client.post(
        "/billing/subscription", json=OK_CARD, headers={**user.headers, **headers}
    )
    assert response.status_code == status
    assert provider(client).charges == []


def test_unknown_plan_is_404(client: TestClient, user: SignedIn) -> None:
    response = post_subscribe(client, user, "key-unknown", {**OK_CARD, "plan_id": "gold"})
    assert response.status_code == 404 and "basic, standard, premium" in response.json()["message"]


def test_upgrade_charges_the_prorated_difference_downgrade_nothing(
    client: TestClient, user: SignedIn
) -> None:
    post_subscribe(client, user, "key-plan0001")
    headers = {**user.headers, "Idempotency-Key": "key-plan0002"}
    up = client.put("/billing/subscription/plan", json={"plan_id": "premium"}, headers=headers)
    assert up.status_code == 200 and up.json()["plan_id"] == "premium"
    amounts = [c.amount_cents for c in provider(client).charges]
    assert amounts[0] == 1549 and 749 <= amounts[1] <= 750  # whole period left: full difference
    headers = {**user.headers, "Idempotency-Key": "key-plan0003"}
    down = client.put("/billing/subscription/plan", json={"plan_id": "basic"}, headers=headers)
    assert down.json()["plan_id"] == "basic"
    assert len(provider(client).charges) == 2
    assert kinds(client, user) == [
        "charged",
        "subscribed",
        "charged",
        "plan_changed",
        "plan_changed",
    ]


def test_cancel_keeps_service_to_period_end(client: TestClient, user: SignedIn) -> None:
    assert client.delete("/billing/subscription", headers=user.headers).status_code == 404
    post_subscribe(client, user, "key-cancel01")
    cancelled = client.delete("/billing/subscription", headers=user.headers)
    assert cancelled.json()["cancel_at_period_end"] is True
    assert client.delete("/billing/subscription", headers=user.headers).status_code == 200
    assert kinds(client, user).count("cancelled") == 1
    assert client.get("/billing/entitlement", headers=user.headers).json()["entitled"] is True


def test_no_subscription_no_entitlement(client: TestClient, user: SignedIn) -> None:
    assert client.get("/billing/entitlement", headers=user.headers).json() == {
        "entitled": False,
        "plan_id": None,
        "max_rendition": None,
        "until": None,
    }


def test_billing_needs_a_token(client: TestClient) -> None:
    assert client.get("/billing/plans").status_code == 401
    assert client.post("/billing/subscription", json=OK_CARD).status_code in (401, 422)


def test_a_timed_out_plan_change_changes_nothing_until_retried(
    client: TestClient, user: SignedIn
) -> None:
    post_subscribe(client, user, "key-change01")
    provider(client).timeouts_before_answer = 1
    headers = {**user.headers, "Idempotency-Key": "key-change02"}
    timed_out = client.put(
        "/billing/subscription/plan", json={"plan_id": "premium"}, headers=headers
    )
    assert timed_out.status_code == 503
    current = client.get("/billing/subscription", headers=user.headers).json()
    assert current["plan_id"] == "standard"
    retried = client.put("/billing/subscription/plan", json={"plan_id": "premium"}, headers=headers)
    assert retried.status_code == 200 and retried.json()["plan_id"] == "premium"
    assert len(provider(client).charges) == 2
