"""The served-bytes ledger: body bytes counted per content unit, kept until the control plane
acknowledges them, in `<state_dir>/served-ledger.json`.

Counts move through three stages:

    add()         staged    counted from log lines the tail has read, not yet saved
    checkpoint()  open      saved together with the tail position they account for
    seal()        pending   one ServedReport (the largest units, up to MAX_UNITS_PER_REPORT
                            and MAX_REPORT_UNIT_CHARS; the rest is sealed next, at once),
                            sent again as it is until acknowledge() drops it

Every save writes open, pending and the tail position in one atomic file, so after a crash the
agent resumes the log where the saved counts end: a line is neither counted twice nor lost.
A report is on disk before it is sent, so a crash after sending resends the same report_id,
which the control plane counts once. A save that fails is logged, and the counts stay in memory
until the next save; a seal that cannot be saved does not happen.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance_agent.atomic_file import write_atomically
from appliance_agent.clock import utc_now
from appliance_agent.health.log_position import TailPosition
from edgefill_contracts import MAX_UNITS_PER_REPORT, ServedReport
from edgefill_contracts.object_key import UnitId
from edgefill_contracts.served import MAX_REPORT_UNIT_CHARS, MAX_UNIT_BYTES, report_entry_chars

logger = logging.getLogger(__name__)

LEDGER_FILE_NAME: Final = "served-ledger.json"


class LedgerState(BaseModel):
    """What the ledger file holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    open: dict[UnitId, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="Counted and saved, not yet sealed into a report."
    )
    pending: ServedReport | None = Field(
        default=None, description="Sealed, perhaps sent, not yet acknowledged."
    )
    position: TailPosition | None = Field(
        default=None, description="The access-log position that open and pending account for."
    )
    last_sealed_at: datetime | None = None
    backlog: bool = Field(
        default=False, description="The last seal left units out: the next one is due at once."
    )


class ServedLedger:
    """Thread-safe: the tally adds and checkpoints, the heartbeat's reporter seals and acks."""

    def __init__(self, path: Path, state: LedgerState | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._state = state or LedgerState()
        self._staged: Counter[str] = Counter()
        self._unsaved = False
        self._counted_since_start = 0

    @classmethod
    def load(cls, state_dir: Path) -> ServedLedger:
        """The ledger in `state_dir`; empty if there is none, and empty (with the unreadable
        file moved aside for a person to look at) if it cannot be read."""
        path = state_dir / LEDGER_FILE_NAME
        try:
            return cls(path, LedgerState.model_validate_json(path.read_bytes()))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValidationError) as exc:
            aside = path.with_name(f"{path.name}.corrupt-{utc_now():%Y%m%dT%H%M%S.%fZ}")
            try:
                path.rename(aside)
            except OSError as rename_exc:
                aside_note = f"could not move it aside ({rename_exc.strerror})"
            else:
                aside_note = f"moved it to {aside.name}"
            logger.error(
                "served ledger %s is unreadable (%s); %s and starting an empty ledger: the "
                "served bytes it held are not reported, and the access log is counted from "
                "its end",
                path,
                _short(exc),
                aside_note,
            )
            return cls(path)

    @property
    def position(self) -> TailPosition | None:
        with self._lock:
            return self._state.position

    @property
    def pending(self) -> ServedReport | None:
        with self._lock:
            return self._state.pending

    @property
    def open_bytes(self) -> int:
        """Bytes saved and not yet sealed (staged counts are not included)."""
        with self._lock:
            return sum(self._state.open.values())

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            pending = self._state.pending
            return pending.bytes_served if pending is not None else 0

    def add(self, unit: str, n: int) -> None:
        """Count `n` bytes served for `unit`; saved by the next checkpoint."""
        if n > 0:
            with self._lock:
                self._staged[unit] += n
                self._counted_since_start += n

    @property
    def counted_since_start(self) -> int:
        """Bytes counted by this process (for /metrics; the reports carry the rest)."""
        with self._lock:
            return self._counted_since_start

    def checkpoint(self, position: TailPosition | None) -> None:
        """Save the staged counts with the tail position they reach (only if either changed)."""
        with self._lock:
            if not self._staged and position == self._state.position and not self._unsaved:
                return
            merged = Counter(self._state.open)
            merged.update(self._staged)
            self._state = self._state.model_copy(
                update={"open": dict(merged), "position": position}
            )
            self._staged.clear()
            self._save()

    def seal_due(self, now: datetime, *, interval_s: float) -> bool:
        """True when open counts wait and `interval_s` has passed since the last seal (or the
        clock went back past it)."""
        with self._lock:
            if not self._state.open:
                return False
            last = self._state.last_sealed_at
            if last is None or self._state.backlog:
                return True
            elapsed = (now - last).total_seconds()
            return not 0 <= elapsed < interval_s

    def seal(self, now: datetime) -> ServedReport | None:
        """The report to send: the pending one as it is, or a new one of the largest open
        units; None if there is nothing to report or the new report could not be saved."""
        with self._lock:
            if self._state.pending is not None:
                return self._state.pending
            if not self._state.open:
                return None
            ranked = sorted(self._state.open.items(), key=lambda item: (-item[1], item[0]))
            by_unit: dict[str, int] = {}
            rest: dict[str, int] = {}
            chars = 0
            for unit, count in ranked:
                entry = report_entry_chars(unit)
                if len(by_unit) >= MAX_UNITS_PER_REPORT or chars + entry > MAX_REPORT_UNIT_CHARS:
                    rest[unit] = count
                    continue
                chars += entry
                by_unit[unit] = min(count, MAX_UNIT_BYTES)
                if count > MAX_UNIT_BYTES:  # not in one report; the remainder waits
                    rest[unit] = count - MAX_UNIT_BYTES
            report = ServedReport(report_id=uuid.uuid4().hex, sealed_at=now, by_unit=by_unit)
            before = self._state
            self._state = before.model_copy(
                update={
                    "open": rest,
                    "pending": report,
                    "last_sealed_at": now,
                    # What did not fit goes in the next report, without waiting an interval.
                    "backlog": bool(rest),
                }
            )
            if not self._save():
                self._state = before  # not sent unless saved: a crash would seal it again
                return None
            return report

    def acknowledge(self, report_id: str) -> bool:
        """Drop the pending report if it is `report_id`; True if it was."""
        with self._lock:
            pending = self._state.pending
            if pending is None or pending.report_id != report_id:
                return False
            self._state = self._state.model_copy(update={"pending": None})
            self._save()  # if this fails the report is resent later: the control plane dedups
            return True

    def _save(self) -> bool:
        """Write the state; on failure keep it in memory, retried at the next checkpoint."""
        try:
            write_atomically(self.path, self._state.model_dump_json().encode())
        except OSError as exc:
            self._unsaved = True
            logger.error(
                "cannot save the served ledger %s (%s); the counts stay in memory and the "
                "save is retried, but a restart before it works loses them",
                self.path,
                exc.strerror or exc,
            )
            return False
        self._unsaved = False
        return True


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"{exc.error_count()} validation errors"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__
