"""Choosing the payment provider, the Stripe adapter over httpx.MockTransport (the protocol's
edge cases; no Stripe here), and webhook signature verification."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from control_plane.billing.errors import (
    BillingConfigurationError,
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderTimeout,
)
from control_plane.billing.payments import Charge, TestPaymentProvider
from control_plane.billing.providers import (
    PaymentSettings,
    ProviderKind,
    load_payment_settings,
    payment_provider,
)
from control_plane.billing.stripe_provider import StripeProvider
from control_plane.billing.webhooks import WebhookSignatureInvalid, sign, verify_webhook
from control_plane.common.aws import secretsmanager
from control_plane.common.settings import Environment, ServiceSettings

LIVE = SecretStr("sk_live_0123456789abcdef")
WEBHOOK = SecretStr("whsec_0123456789abcdef")


# --- provider selection -----------------------------------------------------------------


def test_the_test_provider_is_the_development_default() -> None:
    assert isinstance(
        payment_provider(PaymentSettings(), environment=Environment.DEVELOPMENT),
        TestPaymentProvider,
    )


def test_the_test_provider_is_refused_in_production() -> None:
    with pytest.raises(BillingConfigurationError, match="EDGEFILL_PAYMENT_PROVIDER=stripe"):
        payment_provider(PaymentSettings(), environment=Environment.PRODUCTION)


@pytest.mark.parametrize(
    ("api_key", "webhook", "environment", "match"),
    [
        ("", WEBHOOK.get_secret_value(), Environment.DEVELOPMENT, "STRIPE_API_KEY must be set"),
        (LIVE.get_secret_value(), "short", Environment.PRODUCTION, "WEBHOOK_SECRET must be set"),
        (
            "sk_test_0123456789abcdef",
            WEBHOOK.get_secret_value(),
            Environment.PRODUCTION,
            "test-mode",
        ),
        (
            "rk_test_0123456789abcdef",
            WEBHOOK.get_secret_value(),
            Environment.PRODUCTION,
            "test-mode",
        ),
        (
            " sk_test_0123456789abcdef\n",
            WEBHOOK.get_secret_value(),
            Environment.PRODUCTION,
            "test-mode",
        ),
        (
            "pk_live_0123456789abcdef",
            WEBHOOK.get_secret_value(),
            Environment.PRODUCTION,
            "pk_live_",
        ),
        (
            "0123456789abcdefghijk",
            WEBHOOK.get_secret_value(),
            Environment.PRODUCTION,
            "not a Stripe",
        ),
    ],
    ids=[
        "unset",
        "short-webhook",
        "sk-test",
        "rk-test",
        "padded-sk-test",
        "publishable",
        "no-form",
    ],
)
def test_stripe_settings_are_checked(
    api_key: str, webhook: str, environment: Environment, match: str
) -> None:
    settings = PaymentSettings(
        provider=ProviderKind.STRIPE,
        stripe_api_key=SecretStr(api_key),
        stripe_webhook_secret=SecretStr(webhook),
    )
    with pytest.raises(BillingConfigurationError, match=match):
        payment_provider(settings, environment=environment)


@pytest.mark.parametrize("api_key", ["sk_live_0123456789abcdef", " rk_live_0123456789abcdef\n"])
def test_live_secret_and_restricted_keys_are_taken_in_production(api_key: str) -> None:
    settings = PaymentSettings(
        provider=ProviderKind.STRIPE,
        stripe_api_key=SecretStr(api_key),
        stripe_webhook_secret=WEBHOOK,
    )
    chosen = payment_provider(settings, environment=Environment.PRODUCTION)
    assert isinstance(chosen, StripeProvider)
    assert settings.stripe_api_key.get_secret_value() == api_key.strip()
    chosen.close()


def test_a_test_key_with_surrounding_space_is_still_a_test_key_in_development() -> None:
    settings = PaymentSettings(
        provider=ProviderKind.STRIPE,
        stripe_api_key=SecretStr("  sk_test_0123456789abcdef "),
        stripe_webhook_secret=WEBHOOK,
    )
    chosen = payment_provider(settings, environment=Environment.DEVELOPMENT)
    assert isinstance(chosen, StripeProvider)
    chosen.close()


def test_stripe_is_chosen_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEFILL_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("EDGEFILL_PAYMENT_STRIPE_API_KEY", LIVE.get_secret_value())
    monkeypatch.setenv("EDGEFILL_PAYMENT_STRIPE_WEBHOOK_SECRET", WEBHOOK.get_secret_value())
    settings = load_payment_settings(ServiceSettings(environment=Environment.DEVELOPMENT))
    assert LIVE.get_secret_value() not in repr(settings)
    chosen = payment_provider(settings, environment=Environment.PRODUCTION)
    assert isinstance(chosen, StripeProvider)
    chosen.close()


def test_an_unknown_provider_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EDGEFILL_PAYMENT_PROVIDER", "paypal")
    with pytest.raises(BillingConfigurationError, match="EDGEFILL_PAYMENT_"):
        load_payment_settings(ServiceSettings(environment=Environment.DEVELOPMENT))


# --- the Stripe adapter -----------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def stripe(handler: Handler) -> StripeProvider:
    return StripeProvider(api_key=LIVE, transport=httpx.MockTransport(handler))


def intent(status: str = "succeeded", *, refunded: bool = False) -> dict[str, object]:
    return {
        "id": "pi_123",
        "status": status,
        "amount": 1549,
        "currency": "usd",
        "created": 1_767_225_600,
        "metadata": {"account_id": "acct-s", "idempotency_key": "acct-s:key-1"},
        "latest_charge": {"id": "ch_1", "refunded": refunded},
    }


def charge_with(provider: StripeProvider) -> Charge:
    return provider.charge(
        account_id="acct-s",
        amount_cents=1549,
        currency="USD",
        payment_method="pm_card_visa",
        idempotency_key="acct-s:key-1",
    )


def test_a_charge_is_a_confirmed_payment_intent_with_our_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=intent())

    charge = charge_with(stripe(handler))
    [request] = seen
    form = parse_qs(request.content.decode())
    assert (request.method, request.url.path) == ("POST", "/v1/payment_intents")
    assert request.headers["Idempotency-Key"] == "acct-s:key-1"
    assert request.headers["Authorization"] == f"Bearer {LIVE.get_secret_value()}"
    assert form["amount"] == ["1549"] and form["currency"] == ["usd"]
    assert form["confirm"] == ["true"] and form["payment_method"] == ["pm_card_visa"]
    assert form["metadata[idempotency_key]"] == ["acct-s:key-1"]
    assert charge.charge_id == "pi_123"
    assert charge.currency == "USD"


CARD_ERROR = {"error": {"type": "card_error", "code": "card_declined", "message": "declined"}}


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(402, json=CARD_ERROR), PaymentDeclined),
        (httpx.Response(400, json=CARD_ERROR), PaymentDeclined),
        (httpx.Response(200, json=intent("requires_payment_method")), PaymentDeclined),
        (httpx.Response(200, json=intent("processing")), PaymentProviderTimeout),
        (httpx.Response(500, text="<html>oops</html>"), PaymentProviderTimeout),
        (httpx.Response(503, json={}), PaymentProviderTimeout),
        (httpx.Response(429, json={"error": {"type": "rate_limit"}}), PaymentProviderTimeout),
        (
            httpx.Response(401, json={"error": {"type": "invalid_request_error"}}),
            PaymentProviderError,
        ),
        (
            httpx.Response(400, json={"error": {"type": "idempotency_error"}}),
            PaymentProviderError,
        ),
    ],
)
def test_provider_answers_map_to_billing_errors(
    response: httpx.Response, error: type[Exception]
) -> None:
    with pytest.raises(error):
        charge_with(stripe(lambda _: response))


def test_a_timeout_is_a_provider_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(PaymentProviderTimeout, match="same Idempotency-Key"):
        charge_with(stripe(handler))


def test_find_charge_searches_by_the_key_in_metadata() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params["query"])
        found = [intent("requires_payment_method"), intent(refunded=True)]
        return httpx.Response(200, json={"data": found if len(queries) == 1 else []})

    provider = stripe(handler)
    charge = provider.find_charge("acct-s:it's")
    assert queries == ["metadata['idempotency_key']:'acct-s:it\\'s'"]
    assert charge is not None and charge.refunded and charge.account_id == "acct-s"
    assert provider.find_charge("acct-s:none") is None


def test_refund_posts_with_its_own_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "re_1", "amount": 1549, "created": 1_767_225_700})

    refund = stripe(handler).refund(charge_id="pi_123", idempotency_key="refund:k")
    assert (refund.refund_id, refund.amount_cents) == ("re_1", 1549)
    assert seen[0].url.path == "/v1/refunds" and seen[0].headers["Idempotency-Key"] == "refund:k"
    assert parse_qs(seen[0].content.decode()) == {"payment_intent": ["pi_123"]}


# --- webhooks ---------------------------------------------------------------------------

PAYLOAD = json.dumps({"type": "charge.refunded", "id": "evt_1"}).encode()
NOW = 1_767_225_600


def header(payload: bytes = PAYLOAD, *, at: int = NOW, secret: SecretStr = WEBHOOK) -> str:
    return f"t={at},v1={sign(payload, secret=secret, timestamp=at)}"


def test_a_good_signature_is_accepted() -> None:
    assert verify_webhook(PAYLOAD, header(), WEBHOOK, now=NOW + 10) == NOW


def test_any_of_several_v1_signatures_may_match() -> None:
    rolled = f"{header(secret=SecretStr('whsec_old_secret_0000'))},v1={header().split('v1=')[1]}"
    assert verify_webhook(PAYLOAD, rolled, WEBHOOK, now=NOW) == NOW


@pytest.mark.parametrize(
    ("payload", "signature", "match"),
    [
        (PAYLOAD + b" ", header(), "no v1 signature matches"),
        (PAYLOAD, header(secret=SecretStr("whsec_someone_else_00")), "no v1 signature matches"),
        (PAYLOAD, header(at=NOW - 301), "more than the 300 s"),
        (PAYLOAD, header(at=NOW + 301), "more than the 300 s"),
        (PAYLOAD, None, "missing"),
        (PAYLOAD, "", "missing"),
        (PAYLOAD, f"v1={'0' * 64}", "one t="),
        (PAYLOAD, f"t={NOW}", "one t="),
        (PAYLOAD, f"t=soon,v1={'0' * 64}", "one t="),
        (PAYLOAD, f"t={NOW},v1=\u00e9", "no v1 signature matches"),
    ],
    ids=[
        "tampered",
        "wrong-secret",
        "old",
        "future",
        "none",
        "empty",
        "no-t",
        "no-v1",
        "bad-t",
        "non-ascii",
    ],
)
def test_bad_signatures_are_refused(payload: bytes, signature: str | None, match: str) -> None:
    with pytest.raises(WebhookSignatureInvalid, match=match):
        verify_webhook(payload, signature, WEBHOOK, now=NOW)


# --- the payment secret (the stack's, in Secrets Manager) -------------------------------


def _payment_secret(stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = secretsmanager(stack)
    # The stack's own payment secret, as the Pulumi program made it: created, no value.
    arn = client.describe_secret(SecretId=f"{stack.name_prefix}/payment")["ARN"]
    monkeypatch.setenv("EDGEFILL_PAYMENT_SECRET_ARN", arn)
    # The secret wins over the environment: a stray test key there changes nothing.
    monkeypatch.setenv("EDGEFILL_PAYMENT_STRIPE_API_KEY", "sk_test_not_this_one_0123")
    return client, arn


def test_the_payment_secret_gives_the_provider_its_credentials(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, arn = _payment_secret(stack, monkeypatch)
    client.put_secret_value(
        SecretId=arn,
        SecretString=json.dumps(
            {
                "provider": "stripe",
                "stripe_api_key": f" {LIVE.get_secret_value()}\n",
                "stripe_webhook_secret": WEBHOOK.get_secret_value(),
            }
        ),
    )
    payment = load_payment_settings(stack)
    assert payment.stripe_api_key == LIVE
    chosen = payment_provider(payment, environment=Environment.PRODUCTION)
    assert isinstance(chosen, StripeProvider)
    chosen.close()


def test_a_payment_secret_without_a_value_says_how_to_set_one(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, arn = _payment_secret(stack, monkeypatch)
    with pytest.raises(BillingConfigurationError) as refused:
        load_payment_settings(stack)
    message = str(refused.value)
    assert arn in message and "has no value yet" in message
    assert f"aws secretsmanager put-secret-value --secret-id {arn}" in message


@pytest.mark.parametrize(
    "value",
    ["sk_live_0123456789abcdef", "[1, 2]", '{"provider": "paypal"}'],
    ids=["bare-key", "not-an-object", "unknown-provider"],
)
def test_a_payment_secret_that_is_not_the_settings_is_refused_without_echoing_it(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    client, arn = _payment_secret(stack, monkeypatch)
    client.put_secret_value(SecretId=arn, SecretString=value)
    with pytest.raises(
        BillingConfigurationError, match="is not a JSON object of the payment"
    ) as refused:
        load_payment_settings(stack)
    assert "0123456789abcdef" not in str(refused.value)


def test_a_payment_secret_billing_may_not_read_names_the_role_to_fix(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, arn = _payment_secret(stack, monkeypatch)

    class Denied:
        def get_secret_value(self, **_: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                "GetSecretValue",
            )

    monkeypatch.setattr("control_plane.billing.providers.secretsmanager", lambda s: Denied())
    with pytest.raises(BillingConfigurationError, match="AccessDeniedException") as refused:
        load_payment_settings(stack)
    assert arn in str(refused.value) and "role may read it" in str(refused.value)
