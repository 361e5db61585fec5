"""Explained steering: every candidate's verdict, and the same ranking steering makes."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.steering import (
    FleetView,
    SteerableSite,
    SteeringExplanation,
    explain_ranking,
    rank_appliances,
)
from control_plane.steering.explain import Verdict
from tests.unit.control_plane.test_steering_rank import UNIT, appliance, fleets, make_view

OTHER = "title-1/1080p"


def explain(
    view: FleetView, client_ip: str, *, units: tuple[str, ...] = (UNIT,), limit: int = 8
) -> SteeringExplanation:
    return explain_ranking(
        view, client_ip=client_ip, units=units, session_id="session-1", max_appliances=limit
    )


def verdicts(explanation: SteeringExplanation) -> dict[str, Verdict]:
    return {c.appliance_id: c.verdict for c in explanation.candidates}


def test_each_candidate_says_why_it_was_ranked_or_skipped() -> None:
    view = make_view(
        [
            appliance("a1", "ams", also_holds=(OTHER,)),
            appliance("a-draining", "ams", serving=False, also_holds=(OTHER,)),
            appliance("a-sick", "ams", healthy=False, also_holds=(OTHER,)),
            appliance("a-partial", "ams"),  # holds 720p only
            appliance("r1", "rtm", also_holds=(OTHER,)),
            appliance("b1", "ber", also_holds=(OTHER,)),  # another ISP: never a candidate
        ]
    )
    got = explain(view, "198.51.100.7", units=(UNIT, OTHER))
    assert (got.matched_prefix, got.client_site_id, got.isp) == ("198.51.100.0/24", "ams", "isp-a")
    assert got.sites_visited[0] == "ams" and set(got.sites_visited) == {"ams", "ams-core", "rtm"}
    assert verdicts(got) == {
        "a1": Verdict.RANKED,
        "a-draining": Verdict.NOT_SERVING,
        "a-sick": Verdict.UNHEALTHY,
        "a-partial": Verdict.DOES_NOT_HOLD,
        "r1": Verdict.RANKED,
    }
    partial = next(c for c in got.candidates if c.appliance_id == "a-partial")
    assert partial.missing_units == [OTHER]
    assert got.pathways == ["a1", "r1", "origin"]
    assert [c.rank for c in got.candidates if c.verdict is Verdict.RANKED] == [1, 2]
    assert got.fallback == "origin last, after the ranked appliances"


def test_a_site_without_a_shared_key_and_the_limit_are_named() -> None:
    view = make_view(
        [appliance("a1", "ams"), appliance("a2", "ams"), appliance("r1", "rtm", secrets=("k9",))]
    )
    got = explain(view, "198.51.100.7", limit=1)
    assert verdicts(got)["r1"] is Verdict.SITE_HAS_NO_KEY
    assert sorted(verdicts(got)[a] for a in ("a1", "a2")) == [
        Verdict.BEYOND_LIMIT,
        Verdict.RANKED,
    ]
    assert len(got.pathways) == 2


def test_a_client_no_site_announces_goes_to_the_origin_and_it_says_so() -> None:
    got = explain(make_view([appliance("a1", "ams")]), "10.9.9.9")
    assert (got.client_site_id, got.matched_prefix, got.candidates) == (None, None, [])
    assert got.pathways == ["origin"] and "no site announces" in got.fallback


def test_a_unit_nobody_holds_is_the_reason_given() -> None:
    got = explain(make_view([appliance("a1", "ams")]), "198.51.100.7", units=("title-9/720p",))
    assert got.pathways == ["origin"]
    assert "no eligible appliance" in got.fallback
    assert verdicts(got) == {"a1": Verdict.DOES_NOT_HOLD}


def test_an_ipv4_mapped_address_matches_its_ipv4_prefix() -> None:
    view = make_view([appliance("c1", "ams-core")])
    got = explain(view, "::ffff:198.51.100.200")
    assert (got.matched_prefix, got.client_site_id) == ("198.51.100.128/25", "ams-core")


@settings(max_examples=100, deadline=None)
@given(
    fleet=fleets(),
    client=st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 15)),
    limit=st.integers(1, 4),
)
def test_the_explanation_is_the_ranking_steering_makes(
    fleet: tuple[FleetView, list[SteerableSite]], client: tuple[int, int, int], limit: int
) -> None:
    view, _sites = fleet
    client_ip = f"10.{client[0]}.{client[1]}.{client[2]}"
    got = explain(view, client_ip, limit=limit)
    ranking = rank_appliances(
        view=view, client_ip=client_ip, units=(UNIT,), session_id="session-1", max_appliances=limit
    )
    assert got.pathways == [*(r.appliance.appliance_id for r in ranking.appliances), "origin"]
    assert got.client_site_id == ranking.client_site_id
    ranked = [c.appliance_id for c in got.candidates if c.verdict is Verdict.RANKED]
    assert sorted(ranked) == sorted(got.pathways[:-1])
    if got.matched_prefix is not None:
        assert ipaddress.ip_address(client_ip) in ipaddress.ip_network(got.matched_prefix)
    for candidate in got.candidates:
        if candidate.verdict is Verdict.BEYOND_LIMIT:
            assert len(got.pathways) - 1 == limit
