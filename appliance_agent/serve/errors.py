"""Errors of the serving side; each message says what happened, why, and what to do.

AgentError (appliance_agent.errors)
└── ServeError
    ├── TemplateRenderError  a template is missing or broken; nothing was installed
    ├── NginxConfigInvalid   `nginx -t` refused the rendered tree; the live config is unchanged
    ├── NginxControlError    nginx could not be started, signalled or stopped
    │   └── ReloadFailed     the reload failed; the previous config was put back
    ├── ConfigLockBusy       another agent process holds the nginx config lock
    ├── SigningSecretsError  no usable signing secret (none stored, all expired, unsafe value)
    ├── ClientPrefixesError  on-net from the control plane with no usable prefix set stored
    ├── CertificateError     the TLS certificate or key is missing, expired or unreadable
    └── DrainStateError      the drain state file is unreadable
"""

from __future__ import annotations

from appliance_agent.errors import AgentError


class ServeError(AgentError):
    """Base of every serving error; `str(error)` is a complete sentence for an operator."""


class TemplateRenderError(ServeError):
    """A template could not be rendered (syntax error, missing variable, missing file)."""


class NginxConfigInvalid(ServeError):
    """`nginx -t` refused a candidate config; `output` holds nginx's own words."""

    def __init__(self, message: str, *, output: str) -> None:
        super().__init__(message)
        self.output = output


class NginxControlError(ServeError):
    """nginx could not be started, signalled or stopped."""


class ReloadFailed(NginxControlError):
    """The reload failed after the swap; the previous config has been restored."""


class ConfigLockBusy(ServeError):
    """Another process is changing the nginx config right now."""


class SigningSecretsError(ServeError):
    """No signing secret can be rendered into the config."""


class ClientPrefixesError(ServeError):
    """On-net takes the site's prefixes from the control plane and none usable is stored."""


class CertificateError(ServeError):
    """The TLS certificate or key cannot be used."""


class DrainStateError(ServeError):
    """The drain state cannot be read or changed as asked."""
