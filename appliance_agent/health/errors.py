"""Errors of the health side; each message says what happened, why, and what to do.

AgentError (appliance_agent.errors; fleet API failures are its ControlPlaneError)
└── HealthError
    ├── RegistrationError    no credential and no way to get one (token missing or refused)
    └── StubStatusError      nginx's stub_status could not be read or parsed
"""

from __future__ import annotations

from appliance_agent.errors import AgentError


class HealthError(AgentError):
    """Base of every health error; `str(error)` is a complete sentence for an operator."""


class RegistrationError(HealthError):
    """The appliance has no credential and cannot register."""


class StubStatusError(HealthError):
    """nginx's stub_status page was unreachable or not in the expected format."""
