"""Client prefixes flattened into disjoint address ranges: longest-prefix match by one binary
search, built once and loaded from bytes without parsing a prefix or building a trie.

CIDR prefixes are either nested or disjoint, so the longest prefix covering an address only
changes where some prefix starts or ends. The table keeps those boundaries sorted, per address
family, each with the site covering the range that starts there (or none), so a lookup is one
`bisect`. Its bytes are the boundaries and site numbers as packed integers: loading a million
prefixes is a few `array.frombytes` calls. This is the steering snapshot's prefix section;
`PrefixIndex` (py-radix) stays for views built from the registry directly.
"""

from __future__ import annotations

import bisect
import socket
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from control_plane.steering.binary_frame import frame_header, read_frame_header
from control_plane.steering.prefixes import packed_address

_MAGIC = b"EFPT1\n"
if array("I").itemsize != 4 or array("i").itemsize != 4:  # the byte layout below needs it
    raise RuntimeError("PrefixTable needs 4-byte C ints for its packed arrays")
_NONE = -1
_V4_BITS, _V6_BITS = 32, 128


@dataclass(frozen=True)
class _Family:
    """One address family's boundaries (ascending) and the site index of each range."""

    starts: list[int]
    sites: array[int]

    def site_index(self, address: int) -> int:
        position = bisect.bisect_right(self.starts, address) - 1
        return self.sites[position] if position >= 0 else _NONE


class PrefixTable:
    """Longest-prefix match of client addresses to sites, from disjoint ranges."""

    def __init__(self, *, site_ids: list[str], v4: _Family, v6: _Family, prefix_count: int) -> None:
        self._site_ids = site_ids
        self._v4 = v4
        self._v6 = v6
        self._count = prefix_count

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str]]) -> PrefixTable:
        """From (prefix, site_id) pairs; ValueError for a prefix that is not one. When two
        sites announce the same prefix the one given last wins, as in PrefixIndex."""
        site_numbers: dict[str, int] = {}
        by_family: dict[int, dict[tuple[int, int], int]] = {_V4_BITS: {}, _V6_BITS: {}}
        for prefix, site_id in entries:
            bits, start, length = _parse(prefix)
            number = site_numbers.setdefault(site_id, len(site_numbers))
            by_family[bits][(start, length)] = number
        count = sum(len(prefixes) for prefixes in by_family.values())
        return cls(
            site_ids=list(site_numbers),
            v4=_flatten(by_family[_V4_BITS], _V4_BITS),
            v6=_flatten(by_family[_V6_BITS], _V6_BITS),
            prefix_count=count,
        )

    def __len__(self) -> int:
        """How many distinct prefixes the table was built from."""
        return self._count

    @property
    def range_count(self) -> int:
        return len(self._v4.starts) + len(self._v6.starts)

    def site_for(self, client_ip: str) -> str | None:
        """The site of the longest prefix covering `client_ip`, or None when none covers it.

        IPv4-mapped IPv6 addresses match as the IPv4 address they carry; InvalidClientAddress
        for anything that is not an address.
        """
        packed = packed_address(client_ip)
        family = self._v4 if len(packed) == 4 else self._v6
        index = family.site_index(int.from_bytes(packed, "big"))
        return None if index == _NONE else self._site_ids[index]

    def to_bytes(self) -> bytes:
        """The table as bytes for `from_bytes`: a JSON header, then packed big-endian arrays."""
        v4_starts = array("I", self._v4.starts)
        parts = [
            frame_header(
                _MAGIC,
                {
                    "site_ids": self._site_ids,
                    "v4": len(self._v4.starts),
                    "v6": len(self._v6.starts),
                    "prefixes": self._count,
                },
            )
        ]
        for values in (v4_starts, self._v4.sites, self._v6.sites):
            parts.append(_big_endian(values))
        parts.append(b"".join(start.to_bytes(16, "big") for start in self._v6.starts))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> PrefixTable:
        """The table `to_bytes` wrote; ValueError when `data` is not one, or is cut short."""
        header, offset = read_frame_header(data, _MAGIC, what="prefix table")
        try:
            site_ids = [str(s) for s in header["site_ids"]]
            v4_count, v6_count, prefixes = int(header["v4"]), int(header["v6"]), header["prefixes"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"prefix table header is unreadable: {exc}") from exc
        expected = offset + v4_count * 8 + v6_count * 20
        if len(data) != expected:
            raise ValueError(f"prefix table is {len(data)} bytes; its header says {expected}")
        v4_starts, offset = _read_array("I", data, offset, v4_count)
        v4_sites, offset = _read_array("i", data, offset, v4_count)
        v6_sites, offset = _read_array("i", data, offset, v6_count)
        v6_starts = [
            int.from_bytes(data[at : at + 16], "big") for at in range(offset, len(data), 16)
        ]
        if any(not _NONE <= s < len(site_ids) for s in (*v4_sites, *v6_sites)):
            raise ValueError("prefix table names a site number it has no id for")
        return cls(
            site_ids=site_ids,
            v4=_Family(starts=list(v4_starts), sites=v4_sites),
            v6=_Family(starts=v6_starts, sites=v6_sites),
            prefix_count=int(prefixes),
        )


def _parse(prefix: str) -> tuple[int, int, int]:
    """(family bits, first address, length) of "a.b.c.d/n" or "x::/n"; host bits cleared."""
    address, slash, length = prefix.partition("/")
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    except OSError as exc:
        raise ValueError(f"{prefix!r} is not an IPv4 or IPv6 prefix") from exc
    bits = len(packed) * 8
    if not slash or not length.isdigit() or int(length) > bits:
        raise ValueError(f"{prefix!r} has no valid prefix length")
    size = int(length)
    host_bits = bits - size
    start = (int.from_bytes(packed, "big") >> host_bits) << host_bits
    return bits, start, size


def _flatten(prefixes: dict[tuple[int, int], int], bits: int) -> _Family:
    """Disjoint ranges from nested-or-disjoint prefixes: a sweep with a stack of open ones."""
    starts: list[int] = []
    sites = array("i")
    last = (1 << bits) - 1

    def mark(position: int, site: int) -> None:
        if position > last:
            return
        if starts and starts[-1] == position:
            sites[-1] = site  # an empty range: the later mark decides
        elif not sites or sites[-1] != site:
            starts.append(position)
            sites.append(site)
        if len(sites) > 1 and sites[-1] == sites[-2]:
            starts.pop()
            sites.pop()

    open_: list[tuple[int, int]] = []  # (last address, site), innermost last
    for (start, length), site in sorted(prefixes.items()):
        while open_ and open_[-1][0] < start:
            end, _ = open_.pop()
            mark(end + 1, open_[-1][1] if open_ else _NONE)
        mark(start, site)
        open_.append((start + (1 << (bits - length)) - 1, site))
    while open_:
        end, _ = open_.pop()
        mark(end + 1, open_[-1][1] if open_ else _NONE)
    return _Family(starts=starts, sites=sites)


def _big_endian(values: array[int]) -> bytes:
    if sys.byteorder == "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _read_array(typecode: str, data: bytes, offset: int, count: int) -> tuple[array[int], int]:
    values = array(typecode)
    end = offset + count * values.itemsize
    values.frombytes(data[offset:end])
    if sys.byteorder == "little":
        values.byteswap()
    return values, end
