"""The agent's exceptions: one base, each saying what happened, why, and what to do.

AgentError
├── ConfigError                 bad or missing configuration / credential file
├── DaemonAlreadyRunning        another daemon holds the state directory
├── ControlPlaneError           the fleet API could not be reached or answered wrongly
│   ├── FleetUnreachable        connection refused, timeout, DNS: retried with backoff
│   └── FleetRejected           an HTTP error status; `status_code` says which
├── ManifestRejected            a manifest failed validation; the current content is kept
├── SourceError                 one source could not deliver one object
│   ├── SourceNotFound          404/403/410: try the next source, no retry
│   ├── SourceUnavailable       timeout, connection reset, 5xx, short body: retried, then next
│   └── ChecksumMismatch        size or sha256 differ from the manifest: next source
├── AllSourcesFailed            every source of one object failed
├── DownloadParked              the window closed mid-object; partial bytes kept for resume
└── StoreError                  the local store cannot take a write
    ├── DiskFull                ENOSPC or the free-space floor was reached
    └── StoreBusy               another fill or verify holds the store
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """The configuration or the credential file is missing or invalid."""


class DaemonAlreadyRunning(AgentError):
    """Another `appliance-agent run` holds this state directory's daemon lock."""


class ControlPlaneError(AgentError):
    """The fleet API was unreachable or gave an answer the agent cannot use."""


class FleetUnreachable(ControlPlaneError):
    """The control plane could not be reached; the appliance keeps serving what it has."""


class FleetRejected(ControlPlaneError):
    """The control plane answered with an error status."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ManifestRejected(AgentError):
    """A fetched manifest is invalid as a whole; nothing of it is applied."""


class SourceError(AgentError):
    """One source failed to deliver one object."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class SourceNotFound(SourceError):
    """The source does not have the object (404, 403, 410): escalate without retrying."""


class SourceUnavailable(SourceError):
    """A transient failure (timeout, reset, 5xx, truncated body): retry with backoff."""


class ChecksumMismatch(SourceError):
    """The bytes served do not match the manifest's size or sha256."""


class AllSourcesFailed(AgentError):
    """No source of an object delivered verified bytes."""

    def __init__(self, key: str, failures: list[str]) -> None:
        super().__init__(
            f"object {key!r}: every source failed ({'; '.join(failures)}); it stays missing "
            "and the next fill tries again"
        )
        self.key = key
        self.failures = failures


class DownloadParked(AgentError):
    """A download stopped on purpose (window end or shutdown); its partial file is kept."""


class StoreError(AgentError):
    """The local store cannot be written."""


class DiskFull(StoreError):
    """No room left (ENOSPC or the configured free-space floor)."""


class StoreBusy(StoreError):
    """Another agent process is filling or verifying this store right now."""
