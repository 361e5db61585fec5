"""Billing's errors, mapped to HTTP by the shared app factory.

ControlPlaneError
├── PaymentDeclined (402): the provider refused the charge; use another payment method
└── Unavailable (503)
    └── PaymentProviderTimeout: no answer; retry with the same Idempotency-Key
"""

from __future__ import annotations

from control_plane.common.errors import ControlPlaneError, Unavailable


class PaymentDeclined(ControlPlaneError):
    status_code = 402
    code = "payment_declined"


class PaymentProviderTimeout(Unavailable):
    code = "payment_provider_timeout"
