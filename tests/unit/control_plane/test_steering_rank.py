"""Steering: prefix matching, eligibility, ordering, signing secrets, whole-session holders."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from control_plane.signing.keys import SigningKey
from control_plane.steering import (
    FleetView,
    InvalidClientAddress,
    SteerableAppliance,
    SteerableSite,
    rank_appliances,
)
from control_plane.steering.prefix_table import PrefixTable
from control_plane.steering.rank import ApplianceRanking

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = SigningKey(
    secret_id="k1", secret=SecretStr("old-secret-0123456789"), created_at=NOW - timedelta(days=9)
)
NEW = SigningKey(secret_id="k2", secret=SecretStr("new-secret-0123456789"), created_at=NOW)
UNIT = "title-1/720p"


def appliance(
    appliance_id: str,
    site_id: str,
    *,
    serving: bool = True,
    healthy: bool = True,
    holds: bool = True,
    also_holds: tuple[str, ...] = (),
    secrets: tuple[str, ...] = ("k1", "k2"),
    weight: float = 1.0,
) -> SteerableAppliance:
    return SteerableAppliance(
        appliance_id=appliance_id,
        site_id=site_id,
        cluster_id=f"{site_id}-c1",
        base_url=f"https://{appliance_id}.example:8443",
        serving=serving,
        healthy=healthy,
        held_units=frozenset({UNIT, *also_holds} if holds else also_holds),
        accepted_secret_ids=frozenset(secrets),
        weight=weight,
    )


def make_view(
    appliances: list[SteerableAppliance], sites: list[SteerableSite] | None = None
) -> FleetView:
    return FleetView(
        sites=sites
        or [
            SteerableSite("ams", "isp-a", ("198.51.100.0/24", "2001:db8:1::/48")),
            SteerableSite("ams-core", "isp-a", ("198.51.100.128/25",)),
            SteerableSite("rtm", "isp-a", ("203.0.113.0/24",)),
            SteerableSite("ber", "isp-b", ("192.0.2.0/24",)),
        ],
        appliances=appliances,
        signing_keys=[OLD, NEW],
        built_at=NOW,
    )


def steer(
    view: FleetView,
    client_ip: str,
    session_id: str = "session-1",
    units: tuple[str, ...] = (UNIT,),
    max_appliances: int = 4,
) -> ApplianceRanking:
    return rank_appliances(
        view=view,
        client_ip=client_ip,
        units=units,
        session_id=session_id,
        max_appliances=max_appliances,
    )


def ids(ranking: ApplianceRanking) -> list[str]:
    return [r.appliance.appliance_id for r in ranking.appliances]


def test_longest_prefix_wins_then_other_sites_of_the_isp() -> None:
    view = make_view(
        [
            appliance("a1", "ams"),
            appliance("c1", "ams-core"),
            appliance("r1", "rtm"),
            appliance("b1", "ber"),
        ]
    )
    decision = steer(view, "198.51.100.200")
    assert decision.client_site_id == "ams-core"
    assert ids(decision)[0] == "c1"
    assert set(ids(decision)[1:]) == {"a1", "r1"}  # same ISP; ber is another ISP


@pytest.mark.parametrize(
    ("client_ip", "site"),
    [
        ("2001:db8:1::42", "ams"),
        ("::ffff:198.51.100.7", "ams"),
        ("198.51.100.127", "ams"),
        ("198.51.100.128", "ams-core"),
        ("10.0.0.1", None),
        ("2001:db8:2::1", None),
    ],
)
def test_prefix_matching_ipv4_ipv6_and_mapped(client_ip: str, site: str | None) -> None:
    assert steer(make_view([]), client_ip).client_site_id == site


def test_unknown_client_gets_no_appliance() -> None:
    decision = steer(make_view([appliance("a1", "ams")]), "10.9.9.9")
    assert decision.client_site_id is None
    assert decision.appliances == ()


def test_a_session_plays_only_from_appliances_that_hold_all_its_renditions() -> None:
    other = "title-1/1080p"
    view = make_view(
        [
            appliance("a1", "ams"),
            appliance("a2", "ams", also_holds=(other,)),
            appliance("r1", "rtm"),
        ]
    )
    assert ids(steer(view, "198.51.100.1", units=(UNIT, other))) == ["a2"]
    assert set(ids(steer(view, "198.51.100.1"))) == {"a1", "a2", "r1"}
    # A unit no appliance of the fleet may hold: nothing to rank, the session plays from origin.
    assert steer(view, "198.51.100.1", units=(UNIT, "title-9/720p")).appliances == ()
    assert steer(view, "198.51.100.1", units=()).appliances == ()


@pytest.mark.parametrize("bad", ["", "not-an-ip", "example.com", "198.51.100.0/24", "1.2.3.4.5"])
def test_a_client_address_that_is_not_an_ip_is_a_400(bad: str) -> None:
    with pytest.raises(InvalidClientAddress) as caught:
        steer(make_view([]), bad)
    assert caught.value.status_code == 400
    assert "not an IPv4 or IPv6 address" in caught.value.message


@pytest.mark.parametrize(
    "excluded",
    [
        appliance("x", "ams", serving=False),
        appliance("x", "ams", healthy=False),
        appliance("x", "ams", holds=False),
    ],
    ids=["not-serving", "unhealthy", "does-not-hold"],
)
def test_only_serving_healthy_holders_are_returned(excluded: SteerableAppliance) -> None:
    decision = steer(make_view([excluded, appliance("a1", "ams")]), "198.51.100.1")
    assert ids(decision) == ["a1"]


def test_urls_are_signed_with_the_newest_secret_every_serving_appliance_accepts() -> None:
    # a2 has not picked up k2 yet: the whole site must keep signing with k1.
    view = make_view(
        [appliance("a1", "ams"), appliance("a2", "ams", secrets=("k1",)), appliance("r1", "rtm")]
    )
    by_id = {r.appliance.appliance_id: r.key for r in steer(view, "198.51.100.1").appliances}
    assert by_id == {"a1": OLD, "a2": OLD, "r1": NEW}


def test_a_site_whose_appliances_share_no_known_secret_is_skipped() -> None:
    view = make_view([appliance("a1", "ams", secrets=("k9",)), appliance("r1", "rtm")])
    assert ids(steer(view, "198.51.100.1")) == ["r1"]


def test_draining_appliances_do_not_vote_on_the_secret() -> None:
    view = make_view(
        [appliance("a1", "ams"), appliance("a2", "ams", serving=False, secrets=("k1",))]
    )
    assert steer(view, "198.51.100.1").appliances[0].key == NEW


def test_unhealthy_appliances_do_not_hold_back_a_rotation() -> None:
    # a2 stopped heartbeating before the rotation: it still reports only the old secret.
    view = make_view(
        [appliance("a1", "ams"), appliance("a2", "ams", healthy=False, secrets=("k1",))]
    )
    assert steer(view, "198.51.100.1").appliances[0].key == NEW
    # Once the old secret has expired, the site is still steered to (a2 would have blocked it).
    expired = replace(view, signing_keys=[NEW])
    assert ids(steer(expired, "198.51.100.1")) == ["a1"]


def test_the_same_session_sticks_and_sessions_spread() -> None:
    view = make_view([appliance(f"a{i}", "ams") for i in range(4)])
    first = {ids(steer(view, "198.51.100.1", f"s{n}"))[0] for n in range(200)}
    assert first == {"a0", "a1", "a2", "a3"}
    assert ids(steer(view, "198.51.100.1", "s7")) == ids(steer(view, "198.51.100.1", "s7"))


def test_spare_capacity_weights_the_spread() -> None:
    view = make_view([appliance("busy", "ams", weight=0.1), appliance("idle", "ams", weight=1.0)])
    firsts = [ids(steer(view, "198.51.100.1", f"s{n}"))[0] for n in range(400)]
    assert firsts.count("idle") > 3 * firsts.count("busy") > 0


def test_at_most_max_appliances() -> None:
    view = make_view([appliance(f"a{i}", "ams") for i in range(10)])
    assert len(steer(view, "198.51.100.1").appliances) == 4
    assert len(steer(view, "198.51.100.1", max_appliances=8).appliances) == 8


# Random fleets: prefixes of random lengths over a small address space so that they nest.
_octet = st.integers(min_value=0, max_value=3)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[FleetView, list[SteerableSite]]:
    site_count = draw(st.integers(min_value=1, max_value=6))
    sites, seen = [], set()
    for s in range(site_count):
        prefixes = []
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            length = draw(st.sampled_from([8, 16, 24, 30]))
            address = f"10.{draw(_octet)}.{draw(_octet)}.{draw(_octet) * 4}"
            prefix = str(ipaddress.ip_network(f"{address}/{length}", strict=False))
            if prefix not in seen:
                seen.add(prefix)
                prefixes.append(prefix)
        sites.append(
            SteerableSite(f"s{s}", draw(st.sampled_from(["isp-a", "isp-b"])), tuple(prefixes))
        )
    appliances = [
        appliance(
            f"a{i}",
            f"s{draw(st.integers(min_value=0, max_value=site_count - 1))}",
            serving=draw(st.booleans()),
            healthy=draw(st.booleans()),
            holds=draw(st.booleans()),
        )
        for i in range(draw(st.integers(min_value=0, max_value=12)))
    ]
    return make_view(appliances, sites), sites


@settings(max_examples=150, deadline=None)
@given(fleet=fleets(), client=st.tuples(_octet, _octet, st.integers(min_value=0, max_value=15)))
def test_steering_properties(
    fleet: tuple[FleetView, list[SteerableSite]], client: tuple[int, int, int]
) -> None:
    view, sites = fleet
    client_ip = f"10.{client[0]}.{client[1]}.{client[2]}"
    address = ipaddress.ip_address(client_ip)
    decision = steer(view, client_ip)
    covering = [
        (ipaddress.ip_network(p).prefixlen, site.site_id)
        for site in sites
        for p in site.prefixes
        if address in ipaddress.ip_network(p)
    ]
    if covering:
        best_len = max(length for length, _ in covering)
        assert decision.client_site_id in {s for length, s in covering if length == best_len}
        isp = view.site(decision.client_site_id or "")
        assert isp is not None
        for ranked in decision.appliances:
            chosen = ranked.appliance
            assert chosen.serving and chosen.healthy and UNIT in chosen.held_units
            assert view.site(chosen.site_id) is not None
            assert view.site(chosen.site_id).isp == isp.isp  # type: ignore[union-attr]
        local = [r for r in decision.appliances if r.appliance.site_id == decision.client_site_id]
        assert decision.appliances[: len(local)] == tuple(local), "the client's site comes first"
    else:
        assert decision.client_site_id is None
        assert decision.appliances == ()


# The ranking as steering computed it before the hash moved to
# control_plane.common.rendezvous_hash, written out here: live sessions must not move.
_P = (1 << 61) - 1


def _old_session_hash(session_id: str) -> int:
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _P


def _old_score(session_hash: int, appliance_id: str, weight: float) -> float:
    digest = hashlib.blake2b(appliance_id.encode(), digest_size=16).digest()
    a = int.from_bytes(digest[:8], "big") % (_P - 1) + 1
    b = int.from_bytes(digest[8:], "big") % _P
    u = (((a * session_hash + b) % _P) + 0.5) / _P
    return -weight / math.log(u)


def test_the_ranking_is_the_one_steering_always_computed() -> None:
    local = [
        appliance(f"ams-{i}", "ams", weight=w) for i, w in enumerate((1.0, 0.6, 0.3, 0.9, 0.05))
    ]
    others = [SteerableSite(f"o{i}", "isp-a", (f"10.{i}.0.0/16",)) for i in range(4)]
    view = make_view(
        [*local, *(appliance(f"{s.site_id}-1", s.site_id) for s in others)],
        [SteerableSite("ams", "isp-a", ("198.51.100.0/24",)), *others],
    )
    for n in range(300):
        session = f"session-{n}"
        h = _old_session_hash(session)
        expected = [
            a.appliance_id
            for a in sorted(
                local, key=lambda a: _old_score(h, a.appliance_id, a.weight), reverse=True
            )
        ]
        start = h % len(others)
        ring = [s.site_id for s in others]
        expected += [f"{site}-1" for site in ring[start:] + ring[:start]]
        decision = steer(view, "198.51.100.9", session, max_appliances=len(expected))
        assert ids(decision) == expected, session


@pytest.mark.parametrize(
    "client_ip", ["198.51.100.7", "198.51.100.200", "2001:db8:1::9", "203.0.113.5", "192.0.2.1"]
)
def test_a_view_given_a_loaded_prefix_table_steers_as_one_that_builds_its_trie(
    client_ip: str,
) -> None:
    appliances = [appliance("a1", "ams"), appliance("a2", "ams-core"), appliance("r1", "rtm")]
    built = make_view(appliances)
    table = PrefixTable.from_bytes(
        PrefixTable.build(
            (prefix, site.site_id) for site in built.sites for prefix in site.prefixes
        ).to_bytes()
    )
    loaded = FleetView(
        sites=built.sites,
        appliances=appliances,
        signing_keys=[OLD, NEW],
        built_at=NOW,
        prefix_index=table,
    )
    assert loaded.prefix_index is table
    assert steer(loaded, client_ip) == steer(built, client_ip)


def test_an_appliance_holding_only_an_expired_key_leaves_steering_alone() -> None:
    """k9 is no longer active (not in the view's keys): the appliance that accepts only k9
    cannot check any URL steering would sign, so it is skipped, and its site is not held
    back: the others are signed with the newest key they all accept."""
    view = make_view(
        [
            appliance("ams-1", "ams", secrets=("k9",)),
            appliance("ams-2", "ams", secrets=("k1", "k2")),
        ]
    )
    decision = steer(view, "198.51.100.7")
    assert [r.appliance.appliance_id for r in decision.appliances] == ["ams-2"]
    assert decision.appliances[0].key.secret_id == "k2"
