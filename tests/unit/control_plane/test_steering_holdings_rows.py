"""HoldingsRows: one row per appliance, recomputed only when its report changed, within a
budget, from a cold start seeded by the published section."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from control_plane.steering.holdings_rows import HoldingsRows, report_key
from control_plane.steering.snapshot_cache import BitmapHoldings
from control_plane.steering.snapshot_format import HoldingsSection, decode_holdings, encode_holdings
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.holdings import encode_held_units


class Manifests:
    """Unit orders by (appliance, version), counting reads (each is an S3 GET in service)."""

    def __init__(self) -> None:
        self.orders: dict[tuple[str, str], tuple[str, ...]] = {}
        self.reads = 0

    def put(self, appliance_id: str, version: str, units: Collection[str]) -> tuple[str, ...]:
        order = tuple(sorted(units))
        self.orders[(appliance_id, version)] = order
        return order

    def __call__(self, appliance_id: str, version: str) -> Sequence[str] | None:
        self.reads += 1
        return self.orders.get((appliance_id, version))


def report(order: Sequence[str], held: Collection[str], version: str = "m1") -> HeldDigest:
    return HeldDigest(manifest_version=version, held_units=encode_held_units(order, held))


def section_of(held: Mapping[str, Collection[str]]) -> HoldingsSection:
    """The section of appliances each holding all of its (one-version) manifest."""
    manifests = Manifests()
    reports = {a: report(manifests.put(a, "m1", units), units) for a, units in held.items()}
    rows = HoldingsRows()
    rows.update(reports, unit_order=manifests, budget_s=60)
    return rows.section()


def holds(section: HoldingsSection, appliance_id: str) -> set[str]:
    index = {unit: n for n, unit in enumerate(section.units)}
    row = section.rows_by_appliance().get(appliance_id)
    if row is None:
        return set()
    holdings = BitmapHoldings(index, row)
    return {u for u in section.units if u in holdings}


def test_each_row_is_exactly_what_its_report_holds() -> None:
    manifests = Manifests()
    order = manifests.put("a1", "m1", {"t1/720p", "t2/720p", "t3/720p"})
    rows = HoldingsRows()
    update = rows.update(
        {"a1": report(order, {"t1/720p", "t3/720p"}), "a2": None}, unit_order=manifests, budget_s=60
    )
    assert (update.recomputed, update.deferred) == (1, 0)
    section = rows.section()
    assert holds(section, "a1") == {"t1/720p", "t3/720p"}
    assert section.appliance_ids == ("a1",), "no report: no row"


def test_a_row_is_recomputed_only_when_its_report_changes() -> None:
    manifests = Manifests()
    order = manifests.put("a1", "m1", {"t1/720p", "t2/720p"})
    rows = HoldingsRows()
    rows.update({"a1": report(order, {"t1/720p"})}, unit_order=manifests, budget_s=60)
    assert manifests.reads == 1
    again = rows.update({"a1": report(order, {"t1/720p"})}, unit_order=manifests, budget_s=60)
    assert again.recomputed == 0 and manifests.reads == 1
    rows.update({"a1": report(order, set(order))}, unit_order=manifests, budget_s=60)
    assert manifests.reads == 2 and holds(rows.section(), "a1") == set(order)


def test_new_units_extend_the_table_without_renumbering_and_old_rows_are_padded() -> None:
    manifests = Manifests()
    small = manifests.put("a1", "m1", {"t1/720p"})
    rows = HoldingsRows()
    rows.update({"a1": report(small, small)}, unit_order=manifests, budget_s=60)
    big = manifests.put("a2", "m1", {f"t{n}/720p" for n in range(1, 40)})
    rows.update(
        {"a1": report(small, small), "a2": report(big, big)}, unit_order=manifests, budget_s=60
    )
    section = rows.section()
    assert section.units[0] == "t1/720p" and len(section.units) == 39
    assert holds(section, "a1") == {"t1/720p"} and holds(section, "a2") == set(big)


def test_rows_are_dropped_when_the_report_says_nothing_is_held() -> None:
    manifests = Manifests()
    order = manifests.put("a1", "m1", {"t1/720p"})
    rows = HoldingsRows()
    rows.update({"a1": report(order, order)}, unit_order=manifests, budget_s=60)
    truncated = HeldDigest(manifest_version="m1", missing_truncated=True)
    assert report_key(truncated) is None
    assert rows.update({"a1": truncated}, unit_order=manifests, budget_s=60).dropped == 1
    assert rows.section().appliance_ids == ()
    rows.update({"a1": report(order, order)}, unit_order=manifests, budget_s=60)
    assert rows.update({}, unit_order=manifests, budget_s=60).dropped == 1, "retired"


def test_a_report_that_does_not_fit_its_manifest_holds_nothing() -> None:
    manifests = Manifests()
    order = manifests.put("a1", "m1", {"t1/720p"})
    rows = HoldingsRows()
    alien = tuple(f"x{n}/y" for n in range(64))
    rows.update(
        {"a1": report(alien, alien), "a2": report(order, order, version="m404")},
        unit_order=manifests,
        budget_s=60,
    )
    assert rows.section().appliance_ids == ()


def test_older_agents_report_missing_keys_instead_of_a_bitmap() -> None:
    manifests = Manifests()
    manifests.put("a1", "m1", {"t1/720p", "t2/720p"})
    rows = HoldingsRows()
    held = HeldDigest(manifest_version="m1", missing_keys=["t2/720p/media.mp4"])
    rows.update({"a1": held}, unit_order=manifests, budget_s=60)
    assert holds(rows.section(), "a1") == {"t1/720p"}


def test_past_the_budget_rows_wait_and_the_longest_waiting_go_first() -> None:
    manifests = Manifests()
    reports = {}
    for n in range(5):
        order = manifests.put(f"a{n}", "m1", {f"t{n}/720p"})
        reports[f"a{n}"] = report(order, order)
    ticks = iter(range(1000))
    rows = HoldingsRows()
    first = rows.update(reports, unit_order=manifests, budget_s=1.5, clock=lambda: next(ticks))
    assert (first.recomputed, first.deferred) == (2, 3), "at least one row, then the budget"
    assert rows.section().appliance_ids == ("a0", "a1")
    second = rows.update(reports, unit_order=manifests, budget_s=1.5, clock=lambda: next(ticks))
    assert second.recomputed == 2 and rows.section().appliance_ids == ("a0", "a1", "a2", "a3")
    third = rows.update(reports, unit_order=manifests, budget_s=1.5, clock=lambda: next(ticks))
    assert (third.recomputed, third.deferred) == (1, 0)
    assert len(rows.section().appliance_ids) == 5


def test_a_cold_job_starts_from_the_published_section_without_recomputing() -> None:
    manifests = Manifests()
    order = manifests.put("a1", "m1", {"t1/720p", "t2/720p"})
    reports = {"a1": report(order, {"t2/720p"})}
    rows = HoldingsRows()
    rows.update(reports, unit_order=manifests, budget_s=60)
    published = decode_holdings(encode_holdings(rows.section()))
    assert published.sources == {"a1": report_key(reports["a1"])}

    seeded = HoldingsRows.seeded(published)
    reads = manifests.reads
    assert seeded.update(reports, unit_order=manifests, budget_s=60).recomputed == 0
    assert manifests.reads == reads and seeded.section() == rows.section()
