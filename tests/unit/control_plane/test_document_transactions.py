"""write_all against moto: every write or none, each over the revision it expects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from control_plane.common.documents import write_all
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.models import AddressPlan, Site
from control_plane.fleet.store import FleetStore

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def site(site_id: str, location: str = "x") -> Site:
    return Site(site_id=site_id, isp="isp-a", location=location, updated_at=NOW)


@pytest.fixture
def store(stack: ServiceSettings) -> FleetStore:
    return FleetStore.from_settings(stack)


def test_both_writes_land_and_bump_their_revisions(store: FleetStore) -> None:
    plan = AddressPlan(isps={"isp-a": ["10.0.0.0/8"]})
    assert write_all(
        [
            store.sites.pending_write(site("s1"), expected=None),
            store.address_plan.pending_write(plan, expected=None),
        ]
    )
    stored_site, stored_plan = (
        store.sites.get({"site_id": "s1"}),
        store.address_plan.get({"plan_id": "current"}),
    )
    assert stored_site is not None and stored_site.revision == 1
    assert stored_plan is not None and stored_plan.doc == plan and stored_plan.revision == 1
    assert write_all([store.address_plan.pending_write(plan, expected=1)])
    stored_plan = store.address_plan.get({"plan_id": "current"})
    assert stored_plan is not None and stored_plan.revision == 2


def test_one_stale_write_writes_nothing(store: FleetStore) -> None:
    plan = AddressPlan(isps={"isp-a": ["10.0.0.0/8"]})
    assert write_all([store.address_plan.pending_write(plan, expected=None)])
    wider = AddressPlan(isps={"isp-a": ["10.0.0.0/7"]})
    # The plan is at revision 1, not 0: the whole transaction is refused, the site not written.
    assert not write_all(
        [
            store.sites.pending_write(site("s1"), expected=None),
            store.address_plan.pending_write(wider, expected=0),
        ]
    )
    assert store.sites.get({"site_id": "s1"}) is None
    stored = store.address_plan.get({"plan_id": "current"})
    assert stored is not None and stored.doc == plan and stored.revision == 1
    # A document that exists is not created again.
    assert not write_all([store.address_plan.pending_write(wider, expected=None)])


def test_an_empty_transaction_writes_nothing_and_a_huge_one_is_refused(store: FleetStore) -> None:
    assert write_all([])
    with pytest.raises(ValueError, match="at most 100"):
        write_all([store.sites.pending_write(site(f"s{n}"), expected=None) for n in range(101)])
    assert store.sites.get({"site_id": "s0"}) is None


def _cancelled(*reasons: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": r} for r in reasons],
        },
        "TransactWriteItems",
    )


@pytest.mark.parametrize(
    ("reasons", "lost_race"),
    [
        (("None", "TransactionConflict"), True),  # another transaction on the plan meanwhile
        (("ConditionalCheckFailed", "None"), True),
        (("None", "ThrottlingError"), False),
        (("ValidationError",), False),  # e.g. an item over 400 KB: retrying will not help
    ],
)
def test_a_lost_race_is_false_anything_else_is_unavailable(
    store: FleetStore, monkeypatch: pytest.MonkeyPatch, reasons: tuple[str, ...], lost_race: bool
) -> None:
    client = store.sites._resource.meta.client

    def refuse(**_kwargs: object) -> None:
        raise _cancelled(*reasons)

    monkeypatch.setattr(client, "transact_write_items", refuse)
    writes = [store.sites.pending_write(site("s1"), expected=None)]
    if lost_race:
        assert write_all(writes) is False
    else:
        with pytest.raises(Unavailable):
            write_all(writes)
