"""The agent's reported state, kept in one place: an atomic JSON file in the state directory.

The fill, the scrub and the CLI write it; the heartbeat and `appliance-agent status` read it.
Writers take an advisory lock so a read-modify-write from two processes never loses a field;
readers need no lock because every write replaces the file atomically.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance_agent.atomic_file import write_atomically
from appliance_agent.clock import utc_now
from edgefill_contracts import FillProgress, HeldDigest
from edgefill_contracts.heartbeat import (
    MAX_REPORTED_ERRORS,
    MAX_REPORTED_MISSING_KEYS,
    MAX_SAMPLED_MISSING_KEYS,
)

if TYPE_CHECKING:
    from appliance_agent.delta import Holdings

logger = logging.getLogger(__name__)

STATUS_FILE_NAME = "status.json"
# An error stays in the heartbeat this long after it happened; the control plane counts a
# heartbeat carrying errors as a bad interval, so an old, resolved error must not keep an
# appliance out of steering. `appliance-agent status` still shows the whole history.
ERROR_REPORT_WINDOW = timedelta(minutes=15)


class Activity(StrEnum):
    IDLE = "idle"
    FILLING = "filling"
    VERIFYING = "verifying"


class AgentStatus(BaseModel):
    """What the agent holds and what it is doing; the heartbeat is built from this."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    activity: Activity = Activity.IDLE
    manifest_version: str | None = Field(default=None, description="Applied manifest version.")
    objects_held: int = Field(default=0, ge=0)
    bytes_held: int = Field(default=0, ge=0)
    missing_count: int = Field(default=0, ge=0)
    missing_keys: list[str] = Field(default_factory=list)
    held_units: str | None = Field(
        default=None, description="The applied manifest's units held whole (HeldDigest)."
    )
    fill: FillProgress = FillProgress()
    errors: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None

    def held_digest(self) -> HeldDigest:
        """The heartbeat's `held`: the exact held-units bitmap with a sample of the missing keys
        (for people; the bitmap is what steering reads), or, before the agent has a bitmap,
        the missing keys themselves, truncated when long."""
        limit = MAX_REPORTED_MISSING_KEYS if self.held_units is None else MAX_SAMPLED_MISSING_KEYS
        return HeldDigest(
            manifest_version=self.manifest_version,
            object_count=self.objects_held,
            object_bytes=self.bytes_held,
            held_units=self.held_units,
            missing_keys=self.missing_keys[:limit],
            missing_truncated=self.missing_count > limit,
        )

    def fill_progress(self) -> FillProgress:
        return self.fill

    def reported_errors(self) -> list[str]:
        """Every kept error, newest last (for `appliance-agent status`)."""
        return self.errors[-MAX_REPORTED_ERRORS:]

    def current_errors(self, now: datetime) -> list[str]:
        """Errors from the last ERROR_REPORT_WINDOW: what the heartbeat carries."""
        return [e for e in self.reported_errors() if _error_time(e) >= now - ERROR_REPORT_WINDOW]


def _error_time(entry: str) -> datetime:
    """When an error happened, from the stamp `with_error` puts first; unstamped counts as now."""
    try:
        stamped = datetime.fromisoformat(entry.split(" ", 1)[0])
    except ValueError:
        return utc_now()
    return stamped if stamped.tzinfo else stamped.replace(tzinfo=UTC)


def bounded_missing(keys: list[str]) -> list[str]:
    """The missing keys worth storing: the first few more than a heartbeat can carry."""
    return keys[: MAX_REPORTED_MISSING_KEYS + 1]


def holdings_update(holdings: Holdings) -> dict[str, object]:
    """The status fields a holdings count sets (for `AgentStatus.model_copy(update=...)`)."""
    return {
        "objects_held": holdings.objects_held,
        "bytes_held": holdings.bytes_held,
        "missing_count": len(holdings.missing_keys),
        "missing_keys": bounded_missing(holdings.missing_keys),
        "held_units": holdings.held_units,
    }


def without_errors(errors: list[str], prefix: str) -> list[str]:
    """Drop the errors whose message starts with `prefix`: the condition they report is over."""
    return [e for e in errors if not e.split(" ", 1)[-1].startswith(prefix)]


def with_error(errors: list[str], message: str) -> list[str]:
    """Append a timestamped error, keeping only the newest the heartbeat can carry."""
    stamped = f"{utc_now().isoformat(timespec='seconds')} {message}"
    return [*errors, stamped][-MAX_REPORTED_ERRORS:]


class StatusFile:
    """`<state_dir>/status.json`: read without locks, updated under an advisory lock."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATUS_FILE_NAME
        self._lock_path = state_dir / (STATUS_FILE_NAME + ".lock")

    def read(self) -> AgentStatus:
        """The current status; a missing or unreadable file reads as a fresh agent's status."""
        try:
            return AgentStatus.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return AgentStatus()
        except (OSError, ValidationError) as exc:
            logger.warning(
                "status file %s is unreadable (%s); starting from a blank status", self.path, exc
            )
            return AgentStatus()

    def update(self, change: Callable[[AgentStatus], AgentStatus]) -> AgentStatus:
        """Apply `change` to the current status and write the result atomically."""
        with self._locked():
            new = change(self.read()).model_copy(update={"updated_at": utc_now()})
            self._write(new)
            return new

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, status: AgentStatus) -> None:
        write_atomically(self.path, status.model_dump_json(indent=2))
