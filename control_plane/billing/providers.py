"""Which payment provider a process uses, from the stack's payment secret or EDGEFILL_PAYMENT_*.

In AWS the billing functions get `EDGEFILL_PAYMENT_SECRET_ARN`, the stack's payment secret in
Secrets Manager, whose value (set by the operator, never by Pulumi) is a JSON object of these
settings' fields: `{"provider": "stripe", "stripe_api_key": "sk_live_...",
"stripe_webhook_secret": "whsec_..."}`; a secret with no value yet stops the service at start-up
with the command that sets one. Without the ARN (the lab, the tests) the settings come from
EDGEFILL_PAYMENT_* variables. `test` (the default, for development and tests) approves any
payment-method string, so it is refused when the service runs in production; production sets
`stripe` with its API key and webhook signing secret.
"""

from __future__ import annotations

import json
import os
import re
from enum import StrEnum

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.billing.errors import BillingConfigurationError
from control_plane.billing.payments import PaymentProvider, TestPaymentProvider
from control_plane.billing.stripe_provider import StripeProvider
from control_plane.common.aws import secretsmanager
from control_plane.common.settings import Environment, ServiceSettings
from control_plane.services import PAYMENT_SECRET_ENV


class ProviderKind(StrEnum):
    TEST = "test"
    STRIPE = "stripe"


class PaymentSettings(BaseSettings):
    """EDGEFILL_PAYMENT_*: the provider and its credentials (secrets are never logged)."""

    model_config = SettingsConfigDict(env_prefix="EDGEFILL_PAYMENT_", extra="ignore")

    provider: ProviderKind = ProviderKind.TEST
    stripe_api_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: str = Field(default="https://api.stripe.com", pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("stripe_api_key", "stripe_webhook_secret")
    @classmethod
    def _stripped(cls, value: SecretStr) -> SecretStr:
        # Pasted from a dashboard or a secret store, keys arrive with spaces or a newline.
        return SecretStr(value.get_secret_value().strip())


# Stripe's secret and restricted keys in live mode; production takes nothing else (a test-mode
# key, `sk_test_`/`rk_test_`, approves test cards and moves no money; `pk_` keys are public).
_LIVE_KEY = re.compile(r"^(?:sk|rk)_live_[A-Za-z0-9_]+$")
_KEY_FORM = re.compile(r"^([a-z]+_[a-z]+)_")


_SECRET_EXAMPLE = (
    # bandit B105: a placeholder shown in an error message.
    '{"provider":"stripe","stripe_api_key":"sk_live_...","stripe_webhook_secret":"whsec_..."}'  # nosec B105
)


def load_payment_settings(settings: ServiceSettings) -> PaymentSettings:
    """The payment settings: from the payment secret when EDGEFILL_PAYMENT_SECRET_ARN is set,
    else from EDGEFILL_PAYMENT_*; BillingConfigurationError saying what to fix."""
    arn = os.environ.get(PAYMENT_SECRET_ENV, "").strip()
    if arn:
        return _from_secret(settings, arn)
    try:
        return PaymentSettings()
    except ValidationError as exc:
        raise BillingConfigurationError(
            f"the EDGEFILL_PAYMENT_* settings are invalid: {exc.errors(include_input=False)}"
        ) from exc


def _from_secret(settings: ServiceSettings, arn: str) -> PaymentSettings:
    put = (
        f"aws secretsmanager put-secret-value --secret-id {arn} --secret-string '{_SECRET_EXAMPLE}'"
    )
    try:
        value = secretsmanager(settings).get_secret_value(SecretId=arn)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown")
        if code == "ResourceNotFoundException":
            raise BillingConfigurationError(
                f"the payment secret {arn} has no value yet (or does not exist): billing cannot "
                f"start without the provider's credentials; set them with: {put}"
            ) from exc
        raise BillingConfigurationError(
            f"could not read the payment secret {arn} ({code}); check that the billing "
            "functions' role may read it and retry"
        ) from exc
    except BotoCoreError as exc:
        raise BillingConfigurationError(
            f"could not read the payment secret {arn} ({exc}); retry"
        ) from exc
    try:
        document = json.loads(value.get("SecretString") or "")
        if not isinstance(document, dict):
            raise TypeError("not a JSON object")
        return PaymentSettings.model_validate(document)
    except (ValueError, TypeError, ValidationError) as exc:
        detail = exc.errors(include_input=False) if isinstance(exc, ValidationError) else exc
        raise BillingConfigurationError(
            f"the payment secret {arn} is not a JSON object of the payment settings "
            f"({detail}); set it with: {put}"
        ) from None


def payment_provider(payment: PaymentSettings, *, environment: Environment) -> PaymentProvider:
    """The configured provider, or BillingConfigurationError saying what to set."""
    if payment.provider is ProviderKind.TEST:
        if environment is Environment.PRODUCTION:
            raise BillingConfigurationError(
                "EDGEFILL_PAYMENT_PROVIDER is 'test' (the default), whose provider approves any "
                "card, and EDGEFILL_ENVIRONMENT is production; set EDGEFILL_PAYMENT_PROVIDER="
                "stripe with EDGEFILL_PAYMENT_STRIPE_API_KEY and "
                "EDGEFILL_PAYMENT_STRIPE_WEBHOOK_SECRET"
            )
        return TestPaymentProvider()
    for name in ("stripe_api_key", "stripe_webhook_secret"):
        value: SecretStr = getattr(payment, name)
        if len(value.get_secret_value()) < 16:
            raise BillingConfigurationError(
                f"EDGEFILL_PAYMENT_{name.upper()} must be set (at least 16 characters) when "
                "EDGEFILL_PAYMENT_PROVIDER is stripe; copy it from the Stripe dashboard"
            )
    api_key = payment.stripe_api_key.get_secret_value()
    if environment is Environment.PRODUCTION and not _LIVE_KEY.match(api_key):
        form = _KEY_FORM.match(api_key)
        given = f"a {form[1]}_... key" if form else "not a Stripe secret key"
        mode = "a test-mode key, " if form and "_test" in form[1] else ""
        raise BillingConfigurationError(
            f"EDGEFILL_PAYMENT_STRIPE_API_KEY is {given} ({mode}no money would move) and "
            "EDGEFILL_ENVIRONMENT is production; use a live secret or restricted key "
            "(sk_live_... or rk_live_...)"
        )
    return StripeProvider(
        api_key=payment.stripe_api_key,
        api_base=payment.stripe_api_base,
        timeout_s=payment.timeout_s,
    )
