"""The idempotency store's edge cases: crashed claims, released claims, recycled keys."""

from __future__ import annotations

import pytest

from control_plane.billing.idempotency import (
    STALE_CLAIM_S,
    IdempotencyStore,
    KeyReused,
    StoredAnswer,
    fingerprint,
)
from control_plane.common.errors import Conflict, Unavailable
from control_plane.common.settings import ServiceSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_crashed_claim_is_taken_over_after_a_minute(stack: ServiceSettings) -> None:
    clock = Clock()
    store = IdempotencyStore(IdempotencyStore.from_settings(stack)._table, clock=clock)
    request = {"plan": "basic"}
    store._claim("acct:key-crash", fingerprint(request))  # a request that claimed, then died
    runs: list[int] = []

    def operation() -> StoredAnswer:
        runs.append(1)
        return StoredAnswer(status_code=201, body={"ok": True})

    with pytest.raises(Conflict, match="in progress"):
        store.run(key="acct:key-crash", request=request, operation=operation)
    clock.now += STALE_CLAIM_S + 1
    assert store.run(key="acct:key-crash", request=request, operation=operation).body == {
        "ok": True
    }
    assert runs == [1]


def test_a_5xx_releases_the_key_and_a_retry_runs_again(stack: ServiceSettings) -> None:
    store = IdempotencyStore.from_settings(stack)
    attempts: list[int] = []

    def flaky() -> StoredAnswer:
        attempts.append(1)
        if len(attempts) == 1:
            raise Unavailable("provider down")
        return StoredAnswer(status_code=201, body={"n": len(attempts)})

    with pytest.raises(Unavailable):
        store.run(key="acct:key-flaky", request={"x": 1}, operation=flaky)
    assert store.run(key="acct:key-flaky", request={"x": 1}, operation=flaky).body == {"n": 2}
    # And now it is completed: a third call replays without running.
    assert store.run(key="acct:key-flaky", request={"x": 1}, operation=flaky).body == {"n": 2}
    assert len(attempts) == 2


def test_a_released_or_crashed_key_stays_bound_to_its_request(stack: ServiceSettings) -> None:
    clock = Clock()
    store = IdempotencyStore(IdempotencyStore.from_settings(stack)._table, clock=clock)

    def down() -> StoredAnswer:
        raise Unavailable("provider down")

    def ok() -> StoredAnswer:
        return StoredAnswer(status_code=201, body={"ok": True})

    with pytest.raises(Unavailable):
        store.run(key="acct:key-bound", request={"plan": "premium"}, operation=down)
    with pytest.raises(KeyReused):
        store.run(key="acct:key-bound", request={"plan": "basic"}, operation=ok)
    assert store.run(key="acct:key-bound", request={"plan": "premium"}, operation=ok).body == {
        "ok": True
    }

    store._claim("acct:key-crashed", fingerprint({"plan": "premium"}))  # claimed, then died
    clock.now += STALE_CLAIM_S + 1
    with pytest.raises(KeyReused):
        store.run(key="acct:key-crashed", request={"plan": "basic"}, operation=ok)


def test_a_4xx_answer_is_stored_and_replayed(stack: ServiceSettings) -> None:
    store = IdempotencyStore.from_settings(stack)
    calls: list[int] = []

    def conflicting() -> StoredAnswer:
        calls.append(1)
        raise Conflict("already subscribed")

    first = store.run(key="acct:key-409", request={}, operation=conflicting)
    again = store.run(key="acct:key-409", request={}, operation=conflicting)
    assert (
        first
        == again
        == StoredAnswer(
            status_code=409, body={"error": "conflict", "message": "already subscribed"}
        )
    )
    assert calls == [1]
