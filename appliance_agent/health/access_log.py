"""Serving counters from nginx's JSON access log (format: appliance_agent.serve.log_format).

The tail follows the file across rotation (a new inode, or a file whose first bytes changed, as
after copytruncate and new writes, starts again at 0) and keeps a partial last line until nginx
finishes writing it. After a rename rotation (logrotate's default), the rest of the old file is
read too: it is found by its inode beside the log (`access.log.1`, while it is not yet
compressed) and read to its end at once and once more at the next read, because nginx writes
to it until it reopens its log. Counters are cumulative since the agent started, as the
heartbeat contract says.

With a ServedLedger, the tally also counts body bytes per content unit, and saves them together
with the tail's position (TailPosition) after every refresh; a restarted agent resumes the
tail there, so a line is counted once even across a crash (see served_ledger).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance_agent.health.log_position import HEAD_BYTES, TailPosition
from edgefill_contracts import ServingCounters, unit_of_key

if TYPE_CHECKING:
    from appliance_agent.health.served_ledger import ServedLedger

logger = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20
_ROTATED_READS = 2  # at rotation, and once more after nginx has (normally) reopened its log


class AccessRecord(BaseModel):
    """The fields of one log line the agent uses; the rest are for people and log shippers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    status: int = Field(ge=100, le=599)
    bytes_sent: int = Field(ge=0)
    body_bytes: int = Field(default=0, ge=0)
    object: str = ""
    cache: str = ""
    peer_fill: int = Field(default=0, ge=0, le=1)

    def served_unit(self) -> str | None:
        """The content unit whose bytes this request served a subscriber: None for unsigned
        requests (""), keys that are not `<title>/<rendition>/<file>`, answers other than 2xx
        (an error page is not the unit's content) and a peer appliance's fill (not demand)."""
        if not self.object or not 200 <= self.status < 300 or self.peer_fill:
            return None
        try:
            return unit_of_key(self.object)
        except ValueError:  # ContractError is a ValueError too
            return None


class AccessLogTail:
    """Yields records appended since the last read."""

    def __init__(
        self, path: Path, *, from_start: bool = False, resume: TailPosition | None = None
    ) -> None:
        """Start at the end of the file (lines already there are not read), at its start with
        `from_start`, or where an earlier tail stood with `resume`: the first read checks that
        position as it checks for rotation, so a file rotated, truncated or rewritten since is
        read from 0."""
        self.path = path
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._head = b""
        # The file renamed away by a rotation: (inode, offset, partial line), read on for
        # _ROTATED_READS reads so what nginx wrote to it before reopening its log is counted.
        self._rotated: tuple[int, int, bytes] | None = None
        self._rotated_reads_left = 0
        self.malformed_lines = 0
        if resume is not None:
            self._inode, self._offset, self._head = resume.inode, resume.offset, resume.head
        elif not from_start:
            try:
                with open(path, "rb") as handle:
                    stat = os.fstat(handle.fileno())
                    self._inode, self._offset = stat.st_ino, stat.st_size
                    self._head = handle.read(HEAD_BYTES)
            except FileNotFoundError:
                pass

    def read_new(self) -> Iterator[AccessRecord]:
        if self._rotated is not None:
            yield from self._read_rotated()
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below, also on rotation
        except FileNotFoundError:
            return
        with handle:
            stat = os.fstat(handle.fileno())
            head = handle.read(HEAD_BYTES)
            if stat.st_ino != self._inode or head[: len(self._head)] != self._head:
                if self._inode is not None:
                    logger.info("access log %s was rotated; reading the new file", self.path)
                    if stat.st_ino != self._inode:  # renamed away: read on in it, by inode
                        self._rotated = (self._inode, self._offset, self._partial)
                        self._rotated_reads_left = _ROTATED_READS
                        yield from self._read_rotated()
                self._inode, self._offset, self._partial = stat.st_ino, 0, b""
            elif stat.st_size < self._offset - len(self._partial):
                # The same file (inode and first bytes), but shorter than what was read: its
                # end was lost (nginx does not fsync its log, so a power cut can do this).
                # Reading it again from 0 would count every line before that twice.
                logger.warning(
                    "access log %s is %d bytes, shorter than the %d already read, and starts "
                    "as before: its end was lost (power cut?); reading on from its new end",
                    self.path,
                    stat.st_size,
                    self._offset - len(self._partial),
                )
                self._offset, self._partial = stat.st_size, b""
            self._head = head
            handle.seek(self._offset)
            while chunk := handle.read(_READ_CHUNK):
                self._offset += len(chunk)
                lines = (self._partial + chunk).split(b"\n")
                self._partial = lines.pop()
                for line in lines:
                    record = self._parse(line)
                    if record is not None:
                        yield record

    def _read_rotated(self) -> Iterator[AccessRecord]:
        """Read the renamed-away file on from where the tail stood in it, if it is still
        beside the log under some name (not yet compressed or removed)."""
        if self._rotated is None:
            return
        inode, offset, partial = self._rotated
        self._rotated_reads_left -= 1
        if self._rotated_reads_left <= 0:
            self._rotated = None
        found = self._beside_the_log(inode)
        if found is None:
            logger.info("the rotated access log (inode %d) is gone; its unread end is lost", inode)
            self._rotated = None
            return
        try:
            handle = open(found, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            self._rotated = None
            return
        with handle:
            if os.fstat(handle.fileno()).st_ino != inode:
                self._rotated = None
                return
            handle.seek(offset)
            while chunk := handle.read(_READ_CHUNK):
                offset += len(chunk)
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    record = self._parse(line)
                    if record is not None:
                        yield record
        if self._rotated is not None:
            self._rotated = (inode, offset, partial)

    def _beside_the_log(self, inode: int) -> Path | None:
        """The file next to the log (named like it, e.g. access.log.1) with this inode."""
        try:
            with os.scandir(self.path.parent) as entries:
                for entry in entries:
                    if (
                        entry.name.startswith(self.path.name)
                        and entry.name != self.path.name
                        and entry.is_file(follow_symlinks=False)
                        and entry.inode() == inode
                    ):
                        return Path(entry.path)
        except FileNotFoundError:
            return None
        return None

    def position(self) -> TailPosition | None:
        """What has been read so far, excluding a partial last line; None before any file."""
        if self._inode is None:
            return None
        return TailPosition(
            inode=self._inode, offset=self._offset - len(self._partial), head=self._head
        )

    def _parse(self, line: bytes) -> AccessRecord | None:
        if not line.strip():
            return None
        try:
            return AccessRecord.model_validate_json(line)
        except ValidationError:
            self.malformed_lines += 1
            logger.debug("skipping malformed access-log line (%d so far)", self.malformed_lines)
            return None


class ServingTally:
    """Cumulative requests, bytes and statuses; safe to read from the metrics thread."""

    def __init__(self, tail: AccessLogTail, *, ledger: ServedLedger | None = None) -> None:
        self._tail = tail
        self._ledger = ledger
        self._lock = threading.Lock()
        self._requests = 0
        self._bytes_sent = 0
        self._by_status: Counter[str] = Counter()
        self._origin_fallbacks = 0

    def refresh(self) -> None:
        """Fold in what nginx has logged since the last call; with a ledger, count the body
        bytes per unit and save them with the tail's position before returning."""
        with self._lock:
            for record in self._tail.read_new():
                self._requests += 1
                self._bytes_sent += record.bytes_sent
                self._by_status[str(record.status)] += 1
                if record.cache:
                    self._origin_fallbacks += 1
                if self._ledger is not None and record.body_bytes > 0:
                    unit = record.served_unit()
                    if unit is not None:
                        self._ledger.add(unit, record.body_bytes)
            if self._ledger is not None:
                self._ledger.checkpoint(self._tail.position())

    def counters(self, *, active_connections: int = 0) -> ServingCounters:
        with self._lock:
            return ServingCounters(
                requests=self._requests,
                bytes_sent=self._bytes_sent,
                by_status=dict(self._by_status),
                active_connections=active_connections,
            )

    @property
    def origin_fallbacks(self) -> int:
        return self._origin_fallbacks

    @property
    def malformed_lines(self) -> int:
        return self._tail.malformed_lines
