"""Subscribe and renew against moto with a failure injected after every step: a retry with the
same key, the next renewal run, or the reconciler always ends with the money and state agreeing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from control_plane.billing.errors import PaymentProviderTimeout
from control_plane.billing.idempotency import STALE_CLAIM_S, StoredAnswer
from control_plane.billing.ledger import EntryKind
from control_plane.billing.reconcile import reconcile
from control_plane.billing.renewals import _advance, renew_due, renewal_key
from control_plane.billing.service import (
    PENDING_GRACE,
    Billing,
    PlanChangeInProgress,
    cancel,
    change_plan,
    subscribe,
)
from control_plane.billing.subscriptions import (
    Subscription,
    SubscriptionStatus,
)
from control_plane.common.errors import Conflict, ControlPlaneError, Unavailable
from control_plane.common.settings import ServiceSettings
from tests.support.billing_world import (
    START,
    Clock,
    assert_ledger_matches_provider,
    make_billing,
    net_charged,
    provider,
    serialise_tables,
)

ACCOUNT = "acct-f"
KEY = "fail-key-0001"
PERIOD = timedelta(days=30)


class Crash(Exception):
    """What the injected failure raises: the process 'dies' right after a step."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def billing(stack: ServiceSettings, clock: Clock) -> Billing:
    return make_billing(stack, clock)


# Step name -> (object attribute holding it, method, which calls count as that step).
Matcher = Callable[[tuple[Any, ...], dict[str, Any]], bool]


def _target(billing: Billing, step: str) -> tuple[object, str, Matcher]:
    always: Matcher = lambda _args, _kwargs: True  # noqa: E731

    def kind(wanted: EntryKind) -> Matcher:
        return lambda _args, kwargs: kwargs.get("kind") is wanted

    def replacing(field: str) -> Matcher:
        # SubscriptionStore.replace(current, new): the write that sets `field` on the row.
        return lambda args, _kwargs: len(args) == 2 and getattr(args[1], field) is not None

    return {
        "idempotency_claim": (billing.idempotency, "_claim", always),
        "claim": (billing.subscriptions, "claim", always),
        "charge": (billing.payments, "charge", always),
        "ledger_charged": (billing.ledger, "append", kind(EntryKind.CHARGED)),
        "ledger_subscribed": (billing.ledger, "append", kind(EntryKind.SUBSCRIBED)),
        "ledger_renewed": (billing.ledger, "append", kind(EntryKind.RENEWED)),
        "activate": (billing.subscriptions, "activate", always),
        "advance": (billing.subscriptions, "advance", always),
        "complete": (billing.idempotency, "_complete", always),
        "ledger_changed": (billing.ledger, "append", kind(EntryKind.PLAN_CHANGED)),
        "claim_change": (billing.subscriptions, "replace", replacing("pending_change")),
        "apply": (billing.subscriptions, "replace", replacing("applied_change_key")),
    }[step]


def each_failure(steps: list[str]) -> pytest.MarkDecorator:
    """Every step of `steps`, failing once as an exception (the idempotency claim released)
    and once as a crash (the claim left in progress)."""
    return pytest.mark.parametrize(
        ("step", "killed"),
        [
            pytest.param(step, killed, id=f"{step}-{'killed' if killed else 'raised'}")
            for step in steps
            for killed in (False, True)
        ],
    )


def fail_once_after(
    monkeypatch: pytest.MonkeyPatch, billing: Billing, step: str, *, killed: bool
) -> list[str]:
    """Make the first call of `step` take effect, then raise Crash. `killed`: the process dies
    for real, so not even the idempotency claim is released (a retry must wait it out)."""
    owner, name, matches = _target(billing, step)
    original = getattr(owner, name)
    fired: list[str] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not fired and matches(args, kwargs):
            fired.append(step)
            monkeypatch.setattr(owner, name, original)
            if killed:
                monkeypatch.setattr(billing.idempotency, "_release", lambda key: None)
            raise Crash(f"crashed after {step}")
        return result

    monkeypatch.setattr(owner, name, wrapper)
    return fired


def subscribe_with(billing: Billing, key: str) -> StoredAnswer:
    return subscribe(
        billing,
        account_id=ACCOUNT,
        plan_id="standard",
        payment_method="pm_test_visa",
        idempotency_key=key,
    )


def do_subscribe(billing: Billing) -> StoredAnswer:
    return subscribe_with(billing, KEY)


def timed_out_subscribe(billing: Billing) -> None:
    """A subscribe whose first charge times out: its pending row stays for a retry."""
    provider(billing).timeouts_before_answer = 1
    with pytest.raises(PaymentProviderTimeout):
        do_subscribe(billing)


def stored_answer(billing: Billing, key: str) -> StoredAnswer | None:
    item = billing.idempotency._table.get_item(Key={"key": key}, ConsistentRead=True).get("Item")
    if item is None or item["status"] != "completed":
        return None
    return StoredAnswer.model_validate_json(str(item["answer"]))


def kinds(billing: Billing) -> list[str]:
    return [str(e.kind) for e in billing.ledger.entries(ACCOUNT)]


def assert_subscribed_once(billing: Billing) -> Subscription:
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    assert [c.amount_cents for c in provider(billing).charges] == [1549]
    assert kinds(billing) == ["charged", "subscribed"]
    charged = billing.ledger.entries(ACCOUNT)[0]
    assert charged.charge_id == provider(billing).charges[0].charge_id
    return sub


def crashed_subscribe(
    monkeypatch: pytest.MonkeyPatch, billing: Billing, step: str, *, killed: bool
) -> None:
    """A subscribe that dies right after `step`; the next process is healthy."""
    fired = fail_once_after(monkeypatch, billing, step, killed=killed)
    with pytest.raises(Crash):
        do_subscribe(billing)
    assert fired == [step]
    monkeypatch.undo()


SUBSCRIBE_STEPS = [
    "idempotency_claim",
    "claim",
    "charge",
    "ledger_charged",
    "ledger_subscribed",
    "activate",
    "complete",
]


@each_failure(SUBSCRIBE_STEPS)
def test_subscribe_retried_after_a_failure_at_any_step_charges_once_and_activates(
    billing: Billing,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    killed: bool,
) -> None:
    crashed_subscribe(monkeypatch, billing, step, killed=killed)
    clock.now += timedelta(seconds=STALE_CLAIM_S + 1)
    answer = do_subscribe(billing)
    assert answer.status_code == 201 and answer.body["status"] == "active"
    assert_subscribed_once(billing)
    assert stored_answer(billing, f"{ACCOUNT}:{KEY}") == answer
    assert do_subscribe(billing) == answer  # and it is final


@pytest.mark.parametrize("step", SUBSCRIBE_STEPS)
def test_the_reconciler_settles_a_subscribe_that_failed_at_any_step_and_was_never_retried(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    crashed_subscribe(monkeypatch, billing, step, killed=True)
    charged = bool(provider(billing).charges)
    clock.now += PENDING_GRACE - timedelta(seconds=1)
    assert reconcile(billing).activated == 0  # too young: it may still be running
    clock.now += timedelta(seconds=2)
    report = reconcile(billing)
    sub = billing.subscriptions.get(ACCOUNT)
    if charged:
        assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
        assert kinds(billing) == ["charged", "subscribed"]
        assert report.activated == (0 if step in ("activate", "complete") else 1)
    else:  # failed before the charge: nothing to keep
        assert sub is None and kinds(billing) == []
        assert report.removed == (1 if step == "claim" else 0)
    assert provider(billing).refunds == []
    # A late retry with the same key gets the success answer, still one charge.
    answer = do_subscribe(billing)
    assert answer.status_code == 201
    assert_subscribed_once(billing)
    assert stored_answer(billing, f"{ACCOUNT}:{KEY}") == answer


def assert_money_and_state_agree(billing: Billing) -> None:
    """The end of every recovery: entitled to the plan, its price taken exactly once net, and
    the ledger saying what the provider did."""
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE and sub.plan_id == "standard"
    assert net_charged(billing) == 1549, (provider(billing).charges, provider(billing).refunds)
    assert_ledger_matches_provider(billing, ACCOUNT)
    assert kinds(billing).count("subscribed") - kinds(billing).count("refunded") == 1


def until_subscribed(billing: Billing, clock: Clock) -> None:
    """What the subscriber and the job do next: the reconciler after its grace, then, if the
    account is still not entitled, one more subscribe with a fresh key."""
    clock.now += PENDING_GRACE + timedelta(seconds=1)
    reconcile(billing)
    sub = billing.subscriptions.get(ACCOUNT)
    if sub is None or sub.status is not SubscriptionStatus.ACTIVE:
        assert subscribe_with(billing, "fresh-key-0003").status_code == 201


@each_failure(SUBSCRIBE_STEPS)
def test_a_new_key_after_a_failure_at_any_step_never_charges_twice(
    billing: Billing,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    killed: bool,
) -> None:
    """The subscriber gives up on the failed request and subscribes again with a new key."""
    crashed_subscribe(monkeypatch, billing, step, killed=killed)
    clock.now += timedelta(seconds=5)
    answer = subscribe_with(billing, "new-key-0002")
    # Either it subscribed (nothing of the first attempt stood in its way, or the first was
    # already active), or the first attempt's row holds the account: a clear 409, no charge.
    assert answer.status_code in (201, 409), answer
    if answer.status_code == 409:
        assert [c.idempotency_key for c in provider(billing).charges] in ([], [f"{ACCOUNT}:{KEY}"])
    until_subscribed(billing, clock)
    assert_money_and_state_agree(billing)


@pytest.mark.parametrize("moment", ["before_the_resume", "after_the_charge"])
@pytest.mark.parametrize("step", SUBSCRIBE_STEPS)
def test_the_reconciler_racing_a_same_key_retry_settles_once(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str, moment: str
) -> None:
    """A reconciler pass that listed the stale row before the retry resumed it acts while the
    retry is running: at most one of them settles it, and the money agrees."""
    crashed_subscribe(monkeypatch, billing, step, killed=True)
    clock.now += PENDING_GRACE + timedelta(minutes=1)  # both the retry and the job may act
    listed = list(billing.subscriptions.pending_since(clock.now - PENDING_GRACE))
    monkeypatch.setattr(billing.subscriptions, "pending_since", lambda _cutoff: iter(listed))
    raced: list[object] = []

    def racing(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if moment == "before_the_resume" and not raced:
                raced.append(reconcile(billing))
            result = original(*args, **kwargs)
            if moment == "after_the_charge" and not raced:
                raced.append(reconcile(billing))
            return result

        monkeypatch.setattr(owner, name, wrapper)

    if moment == "before_the_resume":
        racing(billing.subscriptions, "renew_claim")
    else:
        racing(billing.payments, "charge")
    try:
        answer = do_subscribe(billing)
    except Unavailable:
        answer = None  # "being settled; retry with the same key": the subscriber does
    monkeypatch.undo()
    if answer is None or answer.status_code != 201:
        assert answer is None or answer.body["error"] == "subscription_abandoned", answer
        answer = do_subscribe(billing) if answer is None else answer
    until_subscribed(billing, clock)
    assert_money_and_state_agree(billing)


@pytest.mark.parametrize("step", SUBSCRIBE_STEPS)
def test_a_lagging_provider_search_never_loses_a_charge(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Stripe's search lags: the reconciler must not take a charge it cannot see yet for no
    charge. A retry that resumes the stale row renews its age, so the job waits for the search."""
    provider(billing).search_lag = timedelta(minutes=5)
    crashed_subscribe(monkeypatch, billing, step, killed=True)
    clock.now += PENDING_GRACE + timedelta(minutes=1)
    # The retry resumes the stale row and charges (a replay at the provider), then its
    # activation is throttled: the row is pending again, its charge just made.
    original = billing.subscriptions.activate

    def throttled(*_args: Any, **_kwargs: Any) -> Subscription:
        raise Unavailable("DynamoDB throttled the write")

    monkeypatch.setattr(billing.subscriptions, "activate", throttled)
    first = billing.subscriptions.get(ACCOUNT)
    if first is None or first.status is SubscriptionStatus.PENDING:
        with pytest.raises(Unavailable):
            do_subscribe(billing)
    else:  # the first attempt got as far as activating: the retry has nothing to write
        assert do_subscribe(billing).status_code == 201
    monkeypatch.setattr(billing.subscriptions, "activate", original)
    for _ in range(3):  # the job's next passes
        clock.now += timedelta(minutes=15)
        reconcile(billing)
    until_subscribed(billing, clock)
    assert_money_and_state_agree(billing)


def test_a_timed_out_first_charge_keeps_its_pending_row_for_the_retry(
    billing: Billing, clock: Clock
) -> None:
    timed_out_subscribe(billing)
    pending = billing.subscriptions.get(ACCOUNT)
    assert pending is not None and pending.status is SubscriptionStatus.PENDING
    assert do_subscribe(billing).status_code == 201
    assert_subscribed_once(billing)


def test_a_resumed_old_attempt_is_claimed_anew_and_the_reconciler_cannot_remove_it(
    billing: Billing, clock: Clock
) -> None:
    timed_out_subscribe(billing)
    old = billing.subscriptions.get(ACCOUNT)
    assert old is not None
    clock.now += PENDING_GRACE + timedelta(minutes=5)  # the retry comes after the grace
    resumed = billing.subscriptions.renew_claim(old, now=clock.now)
    assert resumed.created_at == clock.now and resumed.version == old.version + 1
    # A reconciler pass that read the row before the resume cannot delete it now...
    with pytest.raises(Conflict):
        billing.subscriptions.delete_pending(old)
    # ...and a fresh pass leaves it alone: its grace counts from the resume.
    assert reconcile(billing).removed == 0
    assert do_subscribe(billing).status_code == 201
    assert_subscribed_once(billing)


def test_a_resume_that_loses_its_row_to_the_reconciler_is_retried_not_refused(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed_out_subscribe(billing)

    def settled_meanwhile(*_args: Any, **_kwargs: Any) -> Subscription:
        raise Conflict("the pending subscription changed meanwhile")

    monkeypatch.setattr(billing.subscriptions, "renew_claim", settled_meanwhile)
    with pytest.raises(Unavailable, match="same Idempotency-Key"):
        do_subscribe(billing)  # a 503, not a stored 409
    monkeypatch.undo()
    assert do_subscribe(billing).status_code == 201
    assert_subscribed_once(billing)


def test_a_claim_refused_by_a_row_the_reconciler_then_removes_is_claimed_again(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry's claim meets the stale unpaid row; the reconciler removes that row before the
    retry reads it. The retry claims again: a 409 stored here would be its final answer."""
    timed_out_subscribe(billing)
    clock.now += PENDING_GRACE * 2
    original = billing.subscriptions.claim

    def refused_then_removed(pending: Subscription) -> None:
        try:
            original(pending)
        except Conflict:
            assert reconcile(billing).removed == 1
            raise

    monkeypatch.setattr(billing.subscriptions, "claim", refused_then_removed)
    answer = do_subscribe(billing)
    assert answer.status_code == 201, answer
    assert_subscribed_once(billing)


def test_a_claim_refused_again_and_again_by_vanishing_rows_is_a_503_to_retry(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded: after a few claims each refused by a row gone before it is read, the request
    answers 503 (its key released), charging nothing; the same key then subscribes."""

    def refused(_pending: Subscription) -> None:
        raise Conflict("this account already has a subscription; change its plan instead")

    monkeypatch.setattr(billing.subscriptions, "claim", refused)
    monkeypatch.setattr(billing.subscriptions, "get", lambda _account: None)
    with pytest.raises(Unavailable, match="same Idempotency-Key"):
        do_subscribe(billing)
    assert provider(billing).charges == []
    monkeypatch.undo()
    assert do_subscribe(billing).status_code == 201
    assert_subscribed_once(billing)


def test_the_reconciler_removes_an_unpaid_attempt(billing: Billing, clock: Clock) -> None:
    timed_out_subscribe(billing)
    clock.now += PENDING_GRACE * 2
    assert reconcile(billing).removed == 1
    assert billing.subscriptions.get(ACCOUNT) is None and provider(billing).charges == []


def test_a_charge_whose_pending_row_vanished_is_refunded(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler removed the row (no charge yet) while a slow retry was charging."""
    original = billing.payments.charge

    def charge_after_the_reconciler(**kwargs: Any) -> Any:
        row = billing.subscriptions.get(ACCOUNT)
        assert row is not None
        billing.subscriptions.delete_pending(row)
        return original(**kwargs)

    monkeypatch.setattr(billing.payments, "charge", charge_after_the_reconciler)
    answer = do_subscribe(billing)
    assert answer.status_code == 409 and answer.body["error"] == "subscription_abandoned"
    assert billing.subscriptions.get(ACCOUNT) is None
    [charge] = provider(billing).charges
    assert [r.charge_id for r in provider(billing).refunds] == [charge.charge_id]
    assert kinds(billing) == ["charged", "subscribed", "refunded"]
    assert sum(e.amount_cents for e in billing.ledger.entries(ACCOUNT)) == 0


def test_a_pending_row_without_a_charge_key_is_left_for_an_operator(
    billing: Billing, clock: Clock
) -> None:
    legacy = Subscription(
        account_id=ACCOUNT,
        plan_id="basic",
        status=SubscriptionStatus.PENDING,
        current_period_end=START,
        payment_method="pm_test_visa",
    )
    billing.subscriptions.claim(legacy)
    clock.now += PENDING_GRACE * 2
    assert reconcile(billing).needs_operator == 1
    assert billing.subscriptions.get(ACCOUNT) == legacy


# --- renewals ---------------------------------------------------------------------------

RENEW_STEPS = [
    "idempotency_claim",
    "charge",
    "ledger_charged",
    "ledger_renewed",
    "advance",
    "complete",
]


def subscribed(billing: Billing, clock: Clock) -> Subscription:
    assert do_subscribe(billing).status_code == 201
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None
    clock.now = sub.current_period_end + timedelta(seconds=1)
    return sub


def assert_renewed_once(
    billing: Billing, before: Subscription, *, answer_stored: bool = True
) -> None:
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    assert sub.current_period_end == before.current_period_end + PERIOD
    assert [c.amount_cents for c in provider(billing).charges] == [1549, 1549]
    assert kinds(billing) == ["charged", "subscribed", "charged", "renewed"]
    answer = stored_answer(billing, renewal_key(before))
    if answer is None:
        # A crash after the advance: the period moved, so no run asks for this key again and
        # its record simply expires. Never a stored failure.
        assert not answer_stored
        return
    assert answer.status_code == 200
    assert answer.body["current_period_end"] == sub.model_dump(mode="json")["current_period_end"]


@each_failure(RENEW_STEPS)
def test_renewal_failing_at_any_step_is_finished_by_the_next_run(
    billing: Billing,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    killed: bool,
) -> None:
    before = subscribed(billing, clock)
    fired = fail_once_after(monkeypatch, billing, step, killed=killed)
    with pytest.raises(Crash):
        renew_due(billing)
    assert fired and fired[0] == step
    monkeypatch.undo()
    clock.now += timedelta(hours=1)  # the next scheduled run
    report = renew_due(billing)
    assert report.renewed == (0 if step in ("advance", "complete") else 1)
    assert_renewed_once(billing, before, answer_stored=step != "advance")
    clock.now += timedelta(hours=1)
    assert renew_due(billing).renewed == 0
    assert_renewed_once(billing, before, answer_stored=step != "advance")


def test_two_renewal_runs_at_once_charge_and_advance_once(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    serialise_tables(billing)  # moto's conditional writes are not atomic across threads
    before = subscribed(billing, clock)
    original = billing.payments.charge

    def slow_charge(**kwargs: Any) -> Any:
        time.sleep(0.3)  # both runs are inside the renewal at once
        return original(**kwargs)

    monkeypatch.setattr(billing.payments, "charge", slow_charge)
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(renew_due(billing))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted((r.renewed, r.retry_later) for r in reports) == [(0, 1), (1, 0)]
    assert_renewed_once(billing, before)


def test_a_stale_run_loses_the_conditional_advance_and_reports_success(
    billing: Billing, clock: Clock
) -> None:
    """Even past the idempotency claim (a takeover), the period moves once."""
    before = subscribed(billing, clock)
    store = billing.subscriptions
    store.advance(before, period_end=before.current_period_end + PERIOD)
    with pytest.raises(Conflict):
        store.advance(before, period_end=before.current_period_end + PERIOD)
    assert _advance(billing, before).current_period_end == before.current_period_end + PERIOD
    after = store.get(ACCOUNT)
    assert after is not None and after.current_period_end == before.current_period_end + PERIOD


def test_a_renewal_charged_before_a_cancel_is_refunded_when_it_lapses(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribed(billing, clock)
    fail_once_after(monkeypatch, billing, "charge", killed=False)
    with pytest.raises(Crash):
        renew_due(billing)
    monkeypatch.undo()
    cancel(billing, account_id=ACCOUNT)
    clock.now += timedelta(hours=1)
    assert renew_due(billing).lapsed == 1
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.status is SubscriptionStatus.CANCELLED
    renewal = provider(billing).charges[1]
    assert [r.charge_id for r in provider(billing).refunds] == [renewal.charge_id]
    assert "refunded" in kinds(billing)


# --- plan changes: claimed on the row, charged, applied; settled by one party ------------------

UP_KEY = "upgrade-key-0001"
DIFFERENCE = 2299 - 1549  # standard -> premium for a whole period


def do_upgrade(billing: Billing, key: str = UP_KEY) -> StoredAnswer:
    return change_plan(billing, account_id=ACCOUNT, plan_id="premium", idempotency_key=key)


def assert_upgraded_once(billing: Billing) -> Subscription:
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.plan_id == "premium" and sub.pending_change is None
    assert [c.amount_cents for c in provider(billing).charges] == [1549, DIFFERENCE]
    assert provider(billing).refunds == []
    assert kinds(billing).count("plan_changed") == 1
    return sub


def crashed_upgrade(
    monkeypatch: pytest.MonkeyPatch, billing: Billing, step: str, *, killed: bool
) -> None:
    """Subscribed, then an upgrade that dies right after `step`; the next process is healthy."""
    assert do_subscribe(billing).status_code == 201
    fired = fail_once_after(monkeypatch, billing, step, killed=killed)
    with pytest.raises(Crash):
        do_upgrade(billing)
    assert fired == [step]
    monkeypatch.undo()


CHANGE_STEPS = ["claim_change", "charge", "ledger_charged", "ledger_changed", "apply", "complete"]


@each_failure(CHANGE_STEPS)
def test_an_upgrade_retried_after_a_failure_at_any_step_charges_once_and_applies(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str, killed: bool
) -> None:
    crashed_upgrade(monkeypatch, billing, step, killed=killed)
    clock.now += timedelta(seconds=STALE_CLAIM_S + 1)
    answer = do_upgrade(billing)
    assert answer.status_code == 200 and answer.body["plan_id"] == "premium"
    assert_upgraded_once(billing)
    assert do_upgrade(billing) == answer


@pytest.mark.parametrize("step", CHANGE_STEPS)
def test_the_reconciler_settles_an_upgrade_that_failed_at_any_step_and_was_never_retried(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    crashed_upgrade(monkeypatch, billing, step, killed=True)
    charged = len(provider(billing).charges) == 2
    clock.now += PENDING_GRACE - timedelta(seconds=1)
    reconcile(billing)
    claimed = billing.subscriptions.get(ACCOUNT)
    assert claimed is not None
    if step not in ("apply", "complete"):
        assert claimed.pending_change is not None, "too young to settle: it may be running"
    clock.now += timedelta(seconds=2)
    reconcile(billing)
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.pending_change is None
    assert sub.plan_id == ("premium" if charged else "standard")
    assert provider(billing).refunds == []
    # A late retry with the same key ends the same way as if nothing had failed.
    assert do_upgrade(billing).body["plan_id"] == "premium"
    assert_upgraded_once(billing)


def test_another_key_waits_for_a_young_change_then_settles_it_without_charging_again(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed_upgrade(monkeypatch, billing, "charge", killed=True)
    with pytest.raises(PlanChangeInProgress):
        do_upgrade(billing, key="upgrade-key-0002")
    clock.now += PENDING_GRACE + timedelta(seconds=1)
    answer = do_upgrade(billing, key="upgrade-key-0002")
    assert answer.status_code == 200 and answer.body["plan_id"] == "premium"
    assert_upgraded_once(billing)


def assert_upgraded_net(billing: Billing) -> None:
    """Premium, its difference taken exactly once net, whatever recovered the change."""
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.plan_id == "premium" and sub.pending_change is None
    assert net_charged(billing) == 1549 + DIFFERENCE
    assert_ledger_matches_provider(billing, ACCOUNT)


def upgrade_until_applied(billing: Billing, clock: Clock, key: str) -> None:
    """A subscriber retrying `key` as told: a 503 waits (past the grace), anything else ends."""
    for _ in range(3):
        try:
            answer = do_upgrade(billing, key=key)
        except PlanChangeInProgress:
            clock.now += PENDING_GRACE + timedelta(seconds=1)
            continue
        assert answer.status_code == 200 and answer.body["plan_id"] == "premium", answer
        return
    raise AssertionError("the upgrade never went through")


@each_failure(CHANGE_STEPS)
def test_an_upgrade_with_a_new_key_after_a_failure_at_any_step_charges_the_difference_once(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str, killed: bool
) -> None:
    crashed_upgrade(monkeypatch, billing, step, killed=killed)
    upgrade_until_applied(billing, clock, "upgrade-key-0002")
    assert_upgraded_net(billing)


@pytest.mark.parametrize("step", CHANGE_STEPS)
def test_the_reconciler_racing_a_same_key_upgrade_retry_settles_it_once(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A reconciler pass that listed the stale change acts right after the retry's charge."""
    crashed_upgrade(monkeypatch, billing, step, killed=True)
    clock.now += PENDING_GRACE + timedelta(minutes=1)
    listed = list(billing.subscriptions.changes_since(clock.now - PENDING_GRACE))
    monkeypatch.setattr(billing.subscriptions, "changes_since", lambda _cutoff: iter(listed))
    original = billing.payments.charge
    raced: list[object] = []

    def charge_then_reconcile(**kwargs: Any) -> Any:
        result = original(**kwargs)
        if not raced:
            raced.append(reconcile(billing))
        return result

    monkeypatch.setattr(billing.payments, "charge", charge_then_reconcile)
    try:
        do_upgrade(billing)
    except ControlPlaneError as exc:
        assert exc.status_code >= 500, exc  # told to retry, nothing stored
    monkeypatch.undo()
    upgrade_until_applied(billing, clock, UP_KEY)
    assert_upgraded_net(billing)


def charged_then_renewed(billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade charged, then killed before it applied; then its period renewed (standard)."""
    crashed_upgrade(monkeypatch, billing, "ledger_charged", killed=True)
    clock.now += PERIOD + timedelta(seconds=1)
    assert renew_due(billing).renewed == 1  # at the plan in force: standard


def test_a_change_whose_period_renewed_before_it_applied_is_refunded(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    charged_then_renewed(billing, clock, monkeypatch)
    answer = do_upgrade(billing)
    assert answer.status_code == 409 and answer.body["error"] == "plan_change_abandoned"
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.plan_id == "standard" and sub.pending_change is None
    amounts = [c.amount_cents for c in provider(billing).charges]
    assert amounts == [1549, DIFFERENCE, 1549]
    assert [r.amount_cents for r in provider(billing).refunds] == [DIFFERENCE]
    assert kinds(billing).count("refunded") == 1


def test_a_same_key_retry_cannot_ask_for_another_plan(billing: Billing) -> None:
    assert do_subscribe(billing).status_code == 201
    provider(billing).timeouts_before_answer = 1
    with pytest.raises(PaymentProviderTimeout):
        do_upgrade(billing)
    with pytest.raises(ControlPlaneError) as refused:
        change_plan(billing, account_id=ACCOUNT, plan_id="basic", idempotency_key=UP_KEY)
    assert refused.value.status_code == 422
    assert do_upgrade(billing).body["plan_id"] == "premium"
    assert_upgraded_once(billing)


def test_a_refund_that_times_out_keeps_the_claim_until_the_reconciler_confirms_it(
    billing: Billing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    charged_then_renewed(billing, clock, monkeypatch)
    real_refund = provider(billing).refund
    attempts: list[str] = []

    def flaky_refund(**kwargs: Any) -> Any:
        attempts.append(kwargs["idempotency_key"])
        if len(attempts) == 1:
            raise PaymentProviderTimeout("the provider did not answer the refund")
        return real_refund(**kwargs)

    monkeypatch.setattr(provider(billing), "refund", flaky_refund)
    with pytest.raises(PaymentProviderTimeout):
        do_upgrade(billing)
    claimed = billing.subscriptions.get(ACCOUNT)
    assert claimed is not None and claimed.pending_change is not None, "kept for a retry"
    assert provider(billing).refunds == []
    # Nobody retries the request: the reconciler settles the claim once it is stale.
    clock.now += PENDING_GRACE + timedelta(seconds=1)
    assert reconcile(billing).changes_settled == 1
    sub = billing.subscriptions.get(ACCOUNT)
    assert sub is not None and sub.plan_id == "standard" and sub.pending_change is None
    assert [r.amount_cents for r in provider(billing).refunds] == [DIFFERENCE]
    assert len(set(attempts)) == 1, "every attempt used the refund's own key"
