"""FleetView: the immutable in-memory snapshot of the fleet that steering decides from.

Build one with `FleetView(...)` from plain records, or load one from the steering snapshot
(`control_plane.steering.snapshot_cache`). Everything a decision needs is precomputed here, so
a decision is one prefix lookup plus a membership test per candidate appliance: held units are
any `Container` (a frozenset, or a bitmap over the snapshot's unit table), never inverted into a
per-unit index, so a view of 10,000 appliances holding 120,000 units each loads in seconds.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from control_plane.common.rendezvous_hash import split_digest_coefficients
from control_plane.signing.keys import KeyRing, SigningKey
from control_plane.steering.prefixes import PrefixIndex, PrefixLookup

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SteerableSite:
    """A site as steering sees it: its ISP and the client prefixes the ISP announces there."""

    site_id: str
    isp: str
    prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SteerableAppliance:
    """An appliance as steering sees it.

    `base_url` is ``https://<address>:<port>`` with no trailing slash. `held_units` answers
    `unit in held_units` for the content units (``<title>/<rendition>``) it verifiably holds
    (a frozenset, or the snapshot's bitmap); `accepted_secret_ids` come from its last heartbeat. `weight` is its spare
    serving capacity in (0, 1]: among equals, steering sends it sessions in that proportion.
    """

    appliance_id: str
    site_id: str
    cluster_id: str
    base_url: str
    serving: bool
    healthy: bool
    held_units: Container[str] = frozenset()
    accepted_secret_ids: frozenset[str] = frozenset()
    weight: float = 1.0
    hash_coefficients: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.weight <= 1:
            raise ValueError(f"appliance {self.appliance_id}: weight {self.weight} not in (0, 1]")
        object.__setattr__(self, "hash_coefficients", split_digest_coefficients(self.appliance_id))

    @property
    def eligible(self) -> bool:
        """Steering may send new sessions here: Serving and healthy."""
        return self.serving and self.healthy


@dataclass(frozen=True)
class FleetView:
    """Sites, appliances and signing keys at one moment, indexed for steering.

    `prefix_index` may be passed in when it was built from exactly these sites' prefixes
    (the steering snapshot passes its loaded PrefixTable); otherwise a PrefixIndex trie is built.
    `known_units`, when given, holds every unit some appliance holds: a unit outside it goes to
    the origin without looking at any appliance. `site_keys`, when given, is the key each site
    is signed with (the snapshot job chose it); otherwise it is the newest key every Serving,
    healthy appliance of the site accepts.
    """

    sites: Sequence[SteerableSite]
    appliances: Sequence[SteerableAppliance]
    signing_keys: Sequence[SigningKey]
    built_at: datetime
    prefix_index: PrefixLookup | None = field(default=None, repr=False)
    known_units: Container[str] | None = field(default=None, repr=False)
    site_keys: Mapping[str, SigningKey] | None = field(default=None, repr=False)
    _prefixes: PrefixLookup = field(init=False, repr=False)
    _sites_by_id: dict[str, SteerableSite] = field(init=False)
    _eligible_by_site: dict[str, tuple[SteerableAppliance, ...]] = field(init=False)
    _key_by_site: dict[str, SigningKey] = field(init=False)
    _sites_by_isp: dict[str, tuple[str, ...]] = field(init=False)
    _appliances_by_id: dict[str, SteerableAppliance] = field(init=False)

    def __post_init__(self) -> None:
        sites_by_id = {site.site_id: site for site in self.sites}
        index = (
            self.prefix_index
            if self.prefix_index is not None
            else PrefixIndex(
                (prefix, site.site_id) for site in self.sites for prefix in site.prefixes
            )
        )
        by_site: dict[str, list[SteerableAppliance]] = defaultdict(list)
        for appliance in self.appliances:
            by_site[appliance.site_id].append(appliance)
        by_isp: dict[str, list[str]] = defaultdict(list)
        for site in self.sites:
            by_isp[site.isp].append(site.site_id)
        ring = KeyRing(self.signing_keys)
        object.__setattr__(self, "prefix_index", index)
        object.__setattr__(self, "_prefixes", index)
        object.__setattr__(self, "_sites_by_id", sites_by_id)
        key_by_site: dict[str, SigningKey] = (
            dict(self.site_keys)
            if self.site_keys is not None
            else {
                site_id: key
                for site_id, members in by_site.items()
                if (key := _newest_accepted_by_all(members, ring)) is not None
            }
        )

        def steerable(appliance: SteerableAppliance) -> bool:
            if not appliance.eligible:
                return False
            if self.site_keys is not None:  # the snapshot job already left out the rest
                return True
            key = key_by_site.get(appliance.site_id)
            # One that accepts no active key of its site cannot check the URLs it would get.
            return key is None or key.secret_id in appliance.accepted_secret_ids

        object.__setattr__(
            self,
            "_eligible_by_site",
            {
                site_id: tuple(a for a in members if steerable(a))
                for site_id, members in by_site.items()
            },
        )
        object.__setattr__(self, "_key_by_site", key_by_site)
        object.__setattr__(self, "_sites_by_isp", {k: tuple(sorted(v)) for k, v in by_isp.items()})
        object.__setattr__(self, "_appliances_by_id", {a.appliance_id: a for a in self.appliances})
        self._warn_keyless_sites()

    def _warn_keyless_sites(self) -> None:
        for site in self.sites:
            if self._eligible_by_site.get(site.site_id) and site.site_id not in self._key_by_site:
                logger.warning(
                    "site %s: no signing secret all its Serving, healthy appliances accept; "
                    "steering skips it until they report one",
                    site.site_id,
                )

    @property
    def prefix_count(self) -> int:
        return len(self._prefixes)

    def site(self, site_id: str) -> SteerableSite | None:
        return self._sites_by_id.get(site_id)

    def site_for(self, client_ip: str) -> SteerableSite | None:
        """The site whose longest announced prefix covers `client_ip`, if any."""
        site_id = self._prefixes.site_for(client_ip)
        return None if site_id is None else self._sites_by_id.get(site_id)

    def appliance(self, appliance_id: str) -> SteerableAppliance | None:
        return self._appliances_by_id.get(appliance_id)

    def eligible_appliances(self, site_id: str) -> tuple[SteerableAppliance, ...]:
        """Serving and healthy appliances of one site."""
        return self._eligible_by_site.get(site_id, ())

    def may_be_held(self, unit: str) -> bool:
        """False when no appliance holds `unit` (known from the snapshot's unit table)."""
        return self.known_units is None or unit in self.known_units

    def holders_in_site(self, site_id: str, unit: str) -> tuple[SteerableAppliance, ...]:
        """Eligible appliances of one site that hold `unit`."""
        return tuple(a for a in self._eligible_by_site.get(site_id, ()) if unit in a.held_units)

    def signing_key_for(self, site_id: str) -> SigningKey | None:
        """The newest key every Serving, healthy appliance of the site accepts; None if none."""
        return self._key_by_site.get(site_id)

    def sites_of_isp(self, isp: str) -> tuple[str, ...]:
        return self._sites_by_isp.get(isp, ())

    def other_sites_of_isp(self, site_id: str) -> tuple[str, ...]:
        """The other sites of `site_id`'s ISP, in a fixed order (computed per call: an ISP's
        thousand sites would otherwise be a million pairs in memory)."""
        site = self._sites_by_id.get(site_id)
        if site is None:
            return ()
        return tuple(s for s in self._sites_by_isp.get(site.isp, ()) if s != site_id)


def _newest_accepted_by_all(
    members: Iterable[SteerableAppliance], ring: KeyRing
) -> SigningKey | None:
    # Only appliances steering may send sessions to vote: a dead one's stale secret ids must
    # not hold the site back from a rotation. Nor may one that accepts no active key (it never
    # fetched its site's new key, and the old one expired): it would take the whole site out of
    # steering, when only it is out of date (the snapshot job leaves it out of steering).
    return ring.newest_accepted(
        a.accepted_secret_ids
        for a in members
        if a.eligible and ring.accepts_any(a.accepted_secret_ids)
    )
