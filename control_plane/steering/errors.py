"""Steering errors.

SteeringError (BadRequest, 400)
└── InvalidClientAddress: the client IP is not an IPv4 or IPv6 address
"""

from __future__ import annotations

from control_plane.common.errors import BadRequest


class SteeringError(BadRequest):
    """Base of steering's errors; each maps to a 4xx through the shared error handler."""

    code = "steering_error"


class InvalidClientAddress(SteeringError):
    code = "invalid_client_address"
