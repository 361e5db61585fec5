"""Errors of the health side; each message says what happened, why, and what to do.

AgentError (appliance_agent.errors)
└── HealthError
    ├── FleetError           the fleet API call did not give a usable answer (also a
    │   │                    ControlPlaneError, so the CLI treats it like the manifest's)
    │   ├── FleetUnreachable connection refused, timeout, DNS: retried with backoff
    │   └── FleetRejected    an HTTP error status; `status_code` says which
    ├── RegistrationError    no credential and no way to get one (token missing or refused)
    └── StubStatusError      nginx's stub_status could not be read or parsed
"""

from __future__ import annotations

from appliance_agent.errors import AgentError, ControlPlaneError


class HealthError(AgentError):
    """Base of every health error; `str(error)` is a complete sentence for an operator."""


class FleetError(HealthError, ControlPlaneError):
    """A fleet API call failed."""


class FleetUnreachable(FleetError):
    """The control plane could not be reached; the appliance keeps serving what it has."""


class FleetRejected(FleetError):
    """The control plane answered with an error status."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class RegistrationError(HealthError):
    """The appliance has no credential and cannot register."""


class StubStatusError(HealthError):
    """nginx's stub_status page was unreachable or not in the expected format."""
