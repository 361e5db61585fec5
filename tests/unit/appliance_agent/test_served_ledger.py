"""The served ledger: bytes per unit from real log lines, sealing, acks, restarts, bad files."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance_agent.health.access_log import AccessLogTail, ServingTally
from appliance_agent.health.served_ledger import LEDGER_FILE_NAME, ServedLedger
from edgefill_contracts import MAX_UNITS_PER_REPORT
from edgefill_contracts.served import MAX_REPORT_UNIT_CHARS, report_entry_chars
from tests.unit.appliance_agent.access_log_lines import append, nginx_line

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Agent:
    """The daemon's counting side as assembly builds it: ledger from disk, tail resumed."""

    def __init__(self, state_dir: Path, log: Path) -> None:
        self.ledger = ServedLedger.load(state_dir)
        self.tally = ServingTally(
            AccessLogTail(log, resume=self.ledger.position), ledger=self.ledger
        )

    def counted(self) -> dict[str, int]:
        """Every byte the ledger file holds, open and pending, per unit."""
        saved = json.loads(self.ledger.path.read_text())
        totals: dict[str, int] = dict(saved["open"])
        for unit, count in (saved["pending"] or {"by_unit": {}})["by_unit"].items():
            totals[unit] = totals.get(unit, 0) + count
        return totals


def _empty_log(tmp_path: Path) -> tuple[Path, Path]:
    """An empty access log and the (not yet created) state dir: a first start at byte 0."""
    log = tmp_path / "access.log"
    log.write_text("")
    return log, tmp_path / "state"


def _ledger_with(tmp_path: Path, counts: dict[str, int]) -> ServedLedger:
    ledger = ServedLedger.load(tmp_path)
    for unit, count in counts.items():
        ledger.add(unit, count)
    ledger.checkpoint(None)
    return ledger


def test_body_bytes_are_counted_per_unit_from_nginx_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(nginx_line("t1/720p/old.ts", 999))  # before the first start: not counted
    agent = Agent(tmp_path / "state", log)
    append(
        log,
        nginx_line("t1/720p/seg_1.ts", 1000)
        + nginx_line("t1/720p/seg_2.ts", 500, status=206)
        + nginx_line("t2/1080p/movie.mp4", 300, cache="MISS")
        + nginx_line("t2/1080p/movie.mp4", 0, status=304)
        + nginx_line("t2/1080p/gone.mp4", 153, status=404)  # an error page, not the unit
        + nginx_line("t2/1080p/movie.mp4", 181, status=416),
    )
    agent.tally.refresh()
    assert agent.counted() == {"t1/720p": 1500, "t2/1080p": 300}
    assert agent.tally.counters().requests == 6  # the heartbeat's counters are unchanged
    assert agent.ledger.open_bytes == 1800


@pytest.mark.parametrize(
    "obj",
    [
        "",  # signature did not pass
        "t3/only-two.ts",  # no rendition directory
        "t1/../etc/passwd",  # not a safe key
        "t1/720p/a file.ts",  # outside the key alphabet
        "/t1/720p/a.ts",  # absolute
    ],
)
def test_requests_without_a_unit_are_counted_nowhere(tmp_path: Path, obj: str) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    agent = Agent(tmp_path / "state", log)
    append(log, nginx_line(obj, 4096, status=403 if not obj else 200))
    agent.tally.refresh()
    assert agent.tally.counters().requests == 1
    assert agent.counted() == {}
    assert agent.ledger.seal(NOW) is None


def test_seal_takes_the_largest_units_up_to_the_limit(tmp_path: Path) -> None:
    counts = {f"t{i}/720p": 10 + i for i in range(MAX_UNITS_PER_REPORT + 3)}
    ledger = _ledger_with(tmp_path, counts)
    report = ledger.seal(NOW)
    assert report is not None
    smallest = {"t0/720p": 10, "t1/720p": 11, "t2/720p": 12}
    assert report.by_unit == {u: c for u, c in counts.items() if u not in smallest}
    assert report.sealed_at == NOW
    assert json.loads(ledger.path.read_text())["open"] == smallest  # on disk before it is sent
    assert ledger.acknowledge(report.report_id)
    # What did not fit is due at once, not an interval later.
    assert ledger.seal_due(NOW, interval_s=300)
    rest = ledger.seal(NOW)
    assert rest is not None and rest.by_unit == smallest
    assert rest.report_id != report.report_id
    assert ledger.acknowledge(rest.report_id)
    ledger.add("t9/720p", 1)
    ledger.checkpoint(None)
    assert not ledger.seal_due(NOW, interval_s=300)  # no backlog: the interval applies again


def test_seal_keeps_a_report_within_one_stored_item(tmp_path: Path) -> None:
    # Ids near the 512-character key limit: far fewer than MAX_UNITS_PER_REPORT fit.
    long = {f"{'t' * 250}{i:04d}/{'r' * 250}": 100 for i in range(1200)}
    ledger = _ledger_with(tmp_path, long)
    report = ledger.seal(NOW)
    assert report is not None
    chars = sum(report_entry_chars(u) for u in report.by_unit)
    assert chars <= MAX_REPORT_UNIT_CHARS < chars + report_entry_chars(next(iter(long)))
    assert ledger.acknowledge(report.report_id)
    assert ledger.seal_due(NOW, interval_s=300)
    sealed = set(report.by_unit)
    while (more := ledger.seal(NOW)) is not None:
        assert not sealed & set(more.by_unit)
        sealed |= set(more.by_unit)
        ledger.acknowledge(more.report_id)
    assert sealed == set(long)


def test_the_pending_report_is_resent_as_is_until_acknowledged(tmp_path: Path) -> None:
    ledger = _ledger_with(tmp_path, {"t1/720p": 100})
    first = ledger.seal(NOW)
    assert first is not None and first.by_unit == {"t1/720p": 100}
    ledger.add("t1/720p", 7)
    ledger.add("t9/480p", 3)
    ledger.checkpoint(None)
    assert ledger.seal(NOW + timedelta(hours=1)) == first  # same id, same counts
    assert not ledger.acknowledge("f" * 32)  # an ack for another report changes nothing
    assert ServedLedger.load(tmp_path).pending == first
    assert ledger.acknowledge(first.report_id)
    assert not ledger.acknowledge(first.report_id)
    assert ServedLedger.load(tmp_path).pending is None
    second = ledger.seal(NOW + timedelta(hours=1))
    assert second is not None and second.by_unit == {"t1/720p": 7, "t9/480p": 3}


@pytest.mark.parametrize(
    ("last_sealed", "now", "due"),
    [
        (None, NOW, True),
        (NOW, NOW + timedelta(seconds=299), False),
        (NOW, NOW + timedelta(seconds=300), True),
        (NOW, NOW - timedelta(seconds=1), True),  # the clock went back: do not wait forever
    ],
)
def test_a_seal_is_due_after_the_interval(
    tmp_path: Path, last_sealed: datetime | None, now: datetime, due: bool
) -> None:
    ledger = _ledger_with(tmp_path, {"t1/720p": 1})
    if last_sealed is not None:
        report = ledger.seal(last_sealed)
        assert report is not None
        ledger.acknowledge(report.report_id)
        ledger.add("t1/720p", 1)
        ledger.checkpoint(None)
    assert ledger.seal_due(now, interval_s=300) is due


def test_nothing_open_is_never_due(tmp_path: Path) -> None:
    assert not ServedLedger.load(tmp_path).seal_due(NOW, interval_s=1)


def test_a_restart_resumes_the_log_where_the_ledger_ends(tmp_path: Path) -> None:
    """Crash = objects rebuilt from disk; every byte logged is counted once, none twice."""
    log, state = _empty_log(tmp_path)
    first = Agent(state, log)
    append(log, nginx_line("t1/720p/a.ts", 1000) + nginx_line("t2/480p/b.ts", 10))
    first.tally.refresh()
    report = first.ledger.seal(NOW)  # sealed (perhaps sent), not acknowledged
    assert report is not None
    half = nginx_line("t1/720p/c.ts", 40)
    append(log, nginx_line("t1/720p/a.ts", 200) + half[:30])
    first.tally.refresh()  # counts the 200, keeps the half line
    append(log, half[30:] + nginx_line("t2/480p/b.ts", 5))  # logged while the agent is down

    second = Agent(state, log)  # the crash: nothing of `first` survives but its files
    assert second.ledger.pending == report
    second.tally.refresh()
    assert second.counted() == {"t1/720p": 1240, "t2/480p": 15}
    append(log, nginx_line("t2/480p/b.ts", 1))
    second.tally.refresh()
    second.tally.refresh()
    assert second.counted() == {"t1/720p": 1240, "t2/480p": 16}


def _rename(log: Path) -> None:
    os.rename(log, log.with_name("access.log.1"))


def _truncate(log: Path) -> None:
    log.write_text("")


def _truncate_and_outgrow(log: Path) -> None:
    """copytruncate, then more bytes than before: only the first bytes tell the file changed."""
    log.write_text(nginx_line("t5/4k/big.ts", 1, time="2026-11-26T00:00:00+00:00") * 5)


@pytest.mark.parametrize("rotate", [_rename, _truncate, _truncate_and_outgrow])
def test_a_log_rotated_while_down_is_read_from_its_start(tmp_path: Path, rotate: object) -> None:
    log, state = _empty_log(tmp_path)
    first = Agent(state, log)
    append(log, nginx_line("t1/720p/a.ts", 1000) * 3)
    first.tally.refresh()
    rotate(log)  # type: ignore[operator]
    before = {"t1/720p": 3000}
    if rotate is _truncate_and_outgrow:
        before["t5/4k"] = 5
    append(log, nginx_line("t2/480p/b.ts", 70))
    second = Agent(state, log)
    second.tally.refresh()
    assert second.counted() == {**before, "t2/480p": 70}


def test_lines_written_to_the_renamed_log_while_down_are_counted(tmp_path: Path) -> None:
    log, state = _empty_log(tmp_path)
    first = Agent(state, log)
    append(log, nginx_line("t1/720p/a.ts", 1000))
    first.tally.refresh()
    append(log, nginx_line("t1/720p/a.ts", 500))  # after the last save, then the crash
    os.rename(log, log.with_name("access.log.1"))
    append(log, nginx_line("t2/480p/b.ts", 70))
    second = Agent(state, log)
    second.tally.refresh()
    assert second.counted() == {"t1/720p": 1500, "t2/480p": 70}


def test_a_log_whose_end_was_lost_is_not_counted_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A power cut: the ledger (fsynced) is ahead of nginx's log (never fsynced)."""
    log, state = _empty_log(tmp_path)
    first = Agent(state, log)
    line = nginx_line("t1/720p/a.ts", 1000)
    append(log, line * 3)
    first.tally.refresh()
    with open(log, "r+b") as handle:  # the third line never reached the disk
        handle.truncate(2 * len(line.encode()))
    second = Agent(state, log)
    with caplog.at_level(logging.WARNING):
        second.tally.refresh()
    assert second.counted() == {"t1/720p": 3000}  # not 5000
    assert "its end was lost" in caplog.text
    append(log, nginx_line("t2/480p/b.ts", 70))
    second.tally.refresh()
    assert second.counted() == {"t1/720p": 3000, "t2/480p": 70}


def test_a_first_start_counts_only_lines_after_it(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    log.write_text(nginx_line("t1/720p/a.ts", 1000))
    agent = Agent(state, log)
    assert agent.ledger.position is None
    agent.tally.refresh()
    assert agent.counted() == {}
    position = agent.ledger.position
    assert position is not None and position.offset == log.stat().st_size


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01 not json",
        b'{"open": {"t1/720p": 5}',  # cut short
        b'{"open": {"t1": 5}}',  # not a unit id
        b'{"open": {"t1/720p": 0}}',  # a zero count
        b'{"open": {}, "pending": {"report_id": "x", "sealed_at": "2026-11-25T12:00:00Z", '
        b'"by_unit": {"t1/720p": 1}}}',
    ],
)
def test_an_unreadable_ledger_is_moved_aside_and_counting_starts_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    state.mkdir()
    (state / LEDGER_FILE_NAME).write_bytes(content)
    log.write_text(nginx_line("t1/720p/a.ts", 1000))
    with caplog.at_level(logging.ERROR):
        agent = Agent(state, log)
    assert "is unreadable" in caplog.text and "moved it to" in caplog.text
    aside = [p for p in state.iterdir() if p.name.startswith(f"{LEDGER_FILE_NAME}.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert agent.ledger.pending is None and agent.ledger.position is None
    append(log, nginx_line("t1/720p/b.ts", 20))
    agent.tally.refresh()  # from the end of the log, as on a first start
    assert agent.counted() == {"t1/720p": 20}


def test_a_ledger_that_cannot_be_saved_keeps_its_counts_and_seals_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    ledger = ServedLedger.load(blocker)
    ledger.add("t1/720p", 50)
    with caplog.at_level(logging.ERROR):
        ledger.checkpoint(None)
    assert "cannot save the served ledger" in caplog.text
    assert ledger.open_bytes == 50  # kept in memory
    assert ledger.seal(NOW) is None  # a report not on disk would be sealed again after a crash
    assert ledger.pending is None and ledger.open_bytes == 50

    blocker.unlink()  # the disk is fixed: the next checkpoint saves, even with nothing new
    ledger.checkpoint(None)
    assert json.loads((blocker / LEDGER_FILE_NAME).read_text())["open"] == {"t1/720p": 50}
    report = ledger.seal(NOW)
    assert report is not None and report.by_unit == {"t1/720p": 50}

    (blocker / LEDGER_FILE_NAME).unlink()
    blocker.rmdir()
    blocker.write_text("broken again")
    assert ledger.acknowledge(report.report_id)  # dropped in memory; a resend would be a dup
    assert ledger.pending is None
    blocker.unlink()
    ledger.checkpoint(None)
    assert json.loads((blocker / LEDGER_FILE_NAME).read_text())["pending"] is None


def test_checkpoint_writes_only_when_something_changed(tmp_path: Path) -> None:
    log, state = _empty_log(tmp_path)
    agent = Agent(state, log)
    append(log, nginx_line("t1/720p/a.ts", 10))
    agent.tally.refresh()
    path = state / LEDGER_FILE_NAME
    written = path.stat().st_mtime_ns
    os.utime(path, ns=(written - 10**9, written - 10**9))
    agent.tally.refresh()  # nothing new in the log
    assert path.stat().st_mtime_ns == written - 10**9
    append(log, nginx_line("", 10))  # a new line, no unit: the position still moves
    agent.tally.refresh()
    assert path.stat().st_mtime_ns != written - 10**9
    assert agent.counted() == {"t1/720p": 10}
