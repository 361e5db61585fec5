"""Serving counters from the JSON access log: appends, partial lines, rotation, bad lines."""

from __future__ import annotations

import json
import os
from pathlib import Path

from appliance_agent.health.access_log import (
    AccessLogTail,
    AccessRecord,
    ServingTally,
)
from appliance_agent.health.log_position import TailPosition


def _line(status: int, sent: int, **extra: object) -> str:
    record = {"time": "2026-11-25T12:00:00+00:00", "status": status, "bytes_sent": sent,
              "body_bytes": sent, "duration": 0.001, "method": "GET", "secret_id": "k1",
              "object": "t/a/1.ts", "range": "", "cache": "", "connection": 1, **extra}  # fmt: skip
    return json.dumps(record) + "\n"


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def test_counts_only_lines_after_start_unless_asked(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_line(200, 100))
    fresh = ServingTally(AccessLogTail(log))
    whole = ServingTally(AccessLogTail(log, from_start=True))
    _append(log, _line(206, 50))
    fresh.refresh()
    whole.refresh()
    assert fresh.counters().requests == 1
    assert whole.counters().by_status == {"200": 1, "206": 1}


def test_partial_last_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    tally = ServingTally(AccessLogTail(log))
    line = _line(200, 1234)
    _append(log, line[:20])
    tally.refresh()
    assert tally.counters().requests == 0
    _append(log, line[20:])
    tally.refresh()
    assert (tally.counters().requests, tally.counters().bytes_sent) == (1, 1234)


def test_follows_rotation_by_rename_and_by_truncation(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    tally = ServingTally(AccessLogTail(log))
    _append(log, _line(200, 10) * 3)
    tally.refresh()
    os.rename(log, tmp_path / "access.log.1")  # logrotate: rename, nginx reopens a new file
    _append(log, _line(404, 5))
    tally.refresh()
    assert tally.counters().by_status == {"200": 3, "404": 1}
    log.write_text("")  # copytruncate
    _append(log, _line(403, 1))
    tally.refresh()
    assert tally.counters().requests == 5


def test_what_nginx_writes_to_the_renamed_file_before_reopening_is_counted(
    tmp_path: Path,
) -> None:
    log, rotated = tmp_path / "access.log", tmp_path / "access.log.1"
    log.write_text("")
    tally = ServingTally(AccessLogTail(log))
    _append(log, _line(200, 10))
    tally.refresh()
    os.rename(log, rotated)
    _append(rotated, _line(206, 20) + '{"status": 200, "by')  # nginx has not reopened yet
    _append(log, _line(404, 5))  # a new file appears (another writer, or a reopen)
    tally.refresh()
    assert tally.counters().by_status == {"200": 1, "206": 1, "404": 1}
    # nginx flushes its last buffer into the old file, then reopens: read once more.
    _append(rotated, 'tes_sent": 7, "body_bytes": 7}\n' + _line(200, 1))
    tally.refresh()
    assert tally.counters().by_status == {"200": 3, "206": 1, "404": 1}
    assert tally.counters().bytes_sent == 10 + 20 + 5 + 7 + 1
    # After that second read the old file is left alone.
    _append(rotated, _line(500, 1))
    tally.refresh()
    assert "500" not in tally.counters().by_status


def test_a_rotated_file_that_is_gone_loses_only_its_unread_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    tally = ServingTally(AccessLogTail(log))
    _append(log, _line(200, 10))
    tally.refresh()
    _append(log, _line(206, 20))
    os.rename(log, tmp_path / "elsewhere.log")  # not beside the log under its name
    _append(log, _line(404, 5))
    tally.refresh()
    assert tally.counters().by_status == {"200": 1, "404": 1}


def test_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    tally = ServingTally(AccessLogTail(log))
    _append(log, "garbage\n" + _line(200, 7) + '{"status": 99, "bytes_sent": 1}\n' + "\n")
    tally.refresh()
    assert tally.counters().requests == 1
    assert tally.malformed_lines == 2


def test_missing_log_counts_nothing_and_origin_fallbacks_are_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    tally = ServingTally(AccessLogTail(log))
    tally.refresh()
    assert tally.counters().requests == 0
    _append(log, _line(200, 9, cache="MISS") + _line(200, 9))
    tally.refresh()
    assert (tally.counters().requests, tally.origin_fallbacks) == (2, 1)
    assert tally.counters(active_connections=3).active_connections == 3


def test_position_ends_at_the_last_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    tail = AccessLogTail(log)
    assert AccessLogTail(tmp_path / "absent.log").position() is None
    whole = _line(200, 10)
    _append(log, whole + _line(200, 20)[:15])
    assert [r.bytes_sent for r in tail.read_new()] == [10]
    position = tail.position()
    assert position is not None
    assert (position.inode, position.offset) == (log.stat().st_ino, len(whole))
    assert position.head == log.read_bytes()


def test_a_resumed_tail_reads_on_from_the_position(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_line(200, 1) + _line(200, 2)[:9])
    first = AccessLogTail(log, from_start=True)
    assert [r.bytes_sent for r in first.read_new()] == [1]
    position = first.position()
    _append(log, _line(200, 2)[9:] + _line(200, 3))
    resumed = AccessLogTail(log, from_start=True, resume=position)  # resume wins
    assert [r.bytes_sent for r in resumed.read_new()] == [2, 3]


def test_a_position_survives_json_with_any_head_bytes() -> None:
    position = TailPosition(inode=7, offset=300, head=b'{"time":"\xe2\x82')  # a cut character
    assert TailPosition.model_validate_json(position.model_dump_json()) == position


def test_records_name_their_unit_only_for_file_keys_served_with_2xx() -> None:
    def unit(obj: str, status: int = 200) -> str | None:
        return AccessRecord(status=status, bytes_sent=1, object=obj).served_unit()

    assert unit("t1/720p/seg_1.ts") == "t1/720p"
    assert unit("t1/720p/seg_1.ts", 206) == "t1/720p"
    assert unit("t1/720p/sub/dir/x.ts") == "t1/720p"
    assert [unit(o) for o in ("", "t1/x.ts", "t1/../x/y", "t1//x")] == [None] * 4
    assert [unit("t1/720p/seg_1.ts", s) for s in (304, 404, 416, 500)] == [None] * 4
    # A peer appliance's fill copies the unit; it is not a subscriber watching it.
    peer = AccessRecord(status=200, bytes_sent=1, object="t1/720p/seg_1.ts", peer_fill=1)
    assert peer.served_unit() is None
