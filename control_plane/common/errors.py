"""Control-plane errors, each mapped to one HTTP status by the app factory.

ControlPlaneError (500)
├── BadRequest (400)
├── Unauthorized (401)
├── Forbidden (403)
├── NotFound (404)
├── Conflict (409)
├── PayloadTooLarge (413)
└── Unavailable (503)
"""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base: `message` is shown to the caller, so it must say what to do and leak nothing."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ControlPlaneError):
    status_code = 400
    code = "bad_request"


class Unauthorized(ControlPlaneError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ControlPlaneError):
    status_code = 403
    code = "forbidden"


class NotFound(ControlPlaneError):
    status_code = 404
    code = "not_found"


class Conflict(ControlPlaneError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ControlPlaneError):
    status_code = 413
    code = "payload_too_large"


class Unavailable(ControlPlaneError):
    status_code = 503
    code = "unavailable"
