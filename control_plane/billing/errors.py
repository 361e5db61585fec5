"""Billing's errors, mapped to HTTP by the shared app factory.

ControlPlaneError
├── PaymentDeclined (402): the provider refused the charge; use another payment method
├── PaymentProviderError (502): the provider rejected our request (a bad API key, bad
│   parameters); an operator has to look, the caller may retry later with the same key
├── BillingConfigurationError (500): the payment settings are unusable; raised at start-up
└── Unavailable (503)
    └── PaymentProviderTimeout: no answer; retry with the same Idempotency-Key
"""

from __future__ import annotations

from control_plane.common.errors import ControlPlaneError, Unavailable


class PaymentDeclined(ControlPlaneError):
    status_code = 402
    code = "payment_declined"


class PaymentProviderError(ControlPlaneError):
    status_code = 502
    code = "payment_provider_error"


class BillingConfigurationError(ControlPlaneError):
    code = "billing_misconfigured"


class PaymentProviderTimeout(Unavailable):
    code = "payment_provider_timeout"
