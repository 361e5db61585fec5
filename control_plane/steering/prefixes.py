"""Longest-prefix match of a client address against the prefixes each site announces."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import radix

from control_plane.steering.errors import InvalidClientAddress


class PrefixIndex:
    """A radix trie of IPv4 and IPv6 prefixes, each mapped to the site that announces it.

    Lookups go by packed address bytes, never by string: py-radix resolves a string that is
    not an address through DNS, which must never happen on a request path.
    When two sites announce the same prefix, the one added last wins; the registry refuses
    such overlaps at write time, so this only matters for hand-built views.
    """

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._tree = radix.Radix()
        self._count = 0
        for prefix, site_id in entries:
            self.add(prefix, site_id)

    def add(self, prefix: str, site_id: str) -> None:
        network = ipaddress.ip_network(prefix, strict=False)
        node = self._tree.add(packed=network.network_address.packed, masklen=network.prefixlen)
        node.data["site"] = site_id
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def site_for(self, client_ip: str) -> str | None:
        """The site of the longest prefix covering `client_ip`, or None when none covers it."""
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError as exc:
            raise InvalidClientAddress(
                f"client address {client_ip!r} is not an IPv4 or IPv6 address"
            ) from exc
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        node = self._tree.search_best(packed=address.packed)
        if node is None:
            return None
        site: str = node.data["site"]
        return site
