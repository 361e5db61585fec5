"""Who owns which address space: every ISP's registered allocations, and the checks a site's
prefixes (and a new allocation) pass against them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import radix

from control_plane.common.errors import BadRequest, Conflict
from control_plane.fleet.models import AddressPlan

# An error names at most this many of an ISP's blocks (an ISP may have a thousand).
_BLOCKS_SHOWN = 5


@dataclass(frozen=True)
class Owned:
    block: str
    isp: str


class OwnedSpace:
    """A radix tree of the plan's allocations (disjoint between ISPs; an ISP's own may nest)."""

    def __init__(self, plan: AddressPlan) -> None:
        self._plan = plan
        self._tree = radix.Radix()
        for isp, blocks in plan.isps.items():
            for block in blocks:
                self._tree.add(block).data.setdefault("isps", set()).add(isp)

    def overlapping(self, prefix: str) -> list[Owned]:
        """Every allocation that covers `prefix` or lies inside it, with its ISP."""
        nodes = {n.prefix: n for n in self._tree.search_covering(prefix)}
        nodes.update({n.prefix: n for n in self._tree.search_covered(prefix)})
        return sorted(
            (Owned(block=block, isp=isp) for block, n in nodes.items() for isp in n.data["isps"]),
            key=lambda o: (o.isp, o.block),
        )

    def foreign(self, prefix: str, isp: str) -> Owned | None:
        """An allocation of another ISP that overlaps `prefix`, if any."""
        return next((o for o in self.overlapping(prefix) if o.isp != isp), None)

    def holds(self, isp: str, prefix: str) -> bool:
        """Whether one of `isp`'s allocations covers `prefix` whole."""
        network = ipaddress.ip_network(prefix)
        return any(
            o.isp == isp and network.subnet_of(ipaddress.ip_network(o.block))  # type: ignore[arg-type]
            for o in self.overlapping(prefix)
        )

    def check_site(self, isp: str, prefixes: list[str]) -> None:
        """Conflict for a prefix in another ISP's space, BadRequest for one outside `isp`'s."""
        if prefixes and isp not in self._plan.isps:
            raise BadRequest(
                f"ISP {isp} has no registered address space, so its sites cannot announce "
                f"prefixes; register it first: PUT /fleet/v1/admin/isps/{isp} "
                '{"allocations": [...]}'
            )
        for prefix in prefixes:
            if (other := self.foreign(prefix, isp)) is not None:
                raise Conflict(
                    f"prefix {prefix} overlaps {other.block}, registered to ISP {other.isp}; a "
                    f"site of {isp} may announce only inside {isp}'s address space"
                )
            if not self.holds(isp, prefix):
                blocks = self._plan.isps[isp]
                shown = ", ".join(blocks[:_BLOCKS_SHOWN])
                more = (
                    f" and {len(blocks) - _BLOCKS_SHOWN} more"
                    if len(blocks) > _BLOCKS_SHOWN
                    else ""
                )
                raise BadRequest(
                    f"prefix {prefix} is outside ISP {isp}'s registered address space "
                    f"({shown}{more}); widen it with PUT /fleet/v1/admin/isps/{isp} if {isp} "
                    "holds it"
                )
