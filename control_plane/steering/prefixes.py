"""Longest-prefix match of a client address against the prefixes each site announces."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Protocol

import radix

from control_plane.steering.errors import InvalidClientAddress


class PrefixLookup(Protocol):
    """Longest-prefix match of a client address to a site: a `PrefixIndex` (a trie built here)
    or a `PrefixTable` (flattened ranges, loaded from bytes)."""

    def __len__(self) -> int: ...

    def site_for(self, client_ip: str) -> str | None: ...


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
        """Map `prefix` ("a.b.c.d/n" or "x::/n"; host bits are ignored) to `site_id`.

        Raises ValueError for anything else. Parsed with inet_pton rather than `ipaddress`:
        a view of a million prefixes builds in a fraction of the time.
        """
        address, slash, length = prefix.partition("/")
        try:
            packed = socket.inet_pton(
                socket.AF_INET6 if ":" in address else socket.AF_INET, address
            )
        except OSError as exc:
            raise ValueError(f"{prefix!r} is not an IPv4 or IPv6 prefix") from exc
        if not slash or not length.isdigit() or int(length) > len(packed) * 8:
            raise ValueError(f"{prefix!r} has no valid prefix length")
        node = self._tree.add(packed=packed, masklen=int(length))
        node.data["site"] = site_id
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def site_for(self, client_ip: str) -> str | None:
        """The site of the longest prefix covering `client_ip`, or None when none covers it.

        IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) match as the IPv4 address they carry.
        """
        node = self._tree.search_best(packed=packed_address(client_ip))
        if node is None:
            return None
        site: str = node.data["site"]
        return site


_V4_MAPPED = bytes(10) + b"\xff\xff"


def packed_address(client_ip: str) -> bytes:
    """The 4 or 16 address bytes of `client_ip` (inet_pton: strict, in C, no DNS)."""
    try:
        if ":" in client_ip:
            packed = socket.inet_pton(socket.AF_INET6, client_ip)
            return packed[12:] if packed[:12] == _V4_MAPPED else packed
        return socket.inet_pton(socket.AF_INET, client_ip)
    except (OSError, ValueError) as exc:
        raise InvalidClientAddress(
            f"client address {client_ip!r} is not an IPv4 or IPv6 address"
        ) from exc
