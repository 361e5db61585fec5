"""The flattened prefix table answers exactly as the radix trie, and survives its bytes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.steering.errors import InvalidClientAddress
from control_plane.steering.prefix_table import PrefixTable
from control_plane.steering.prefixes import PrefixIndex

ENTRIES = [
    ("10.0.0.0/8", "isp-wide"),
    ("10.1.0.0/16", "ams"),
    ("10.1.2.0/24", "ams-edge"),
    ("10.1.3.0/24", "rtm"),
    ("10.2.0.0/16", "rtm"),
    ("192.0.2.0/24", "bru"),
    ("2001:db8::/32", "isp-wide"),
    ("2001:db8:1::/48", "ams"),
    ("0.0.0.0/0", "default"),
]


@pytest.mark.parametrize(
    ("address", "site"),
    [
        ("10.9.9.9", "isp-wide"),
        ("10.1.9.9", "ams"),
        ("10.1.2.200", "ams-edge"),
        ("10.1.3.1", "rtm"),
        ("10.1.4.0", "ams"),  # back in the /16 after a nested /24
        ("10.2.255.255", "rtm"),
        ("11.0.0.0", "default"),
        ("192.0.2.9", "bru"),
        ("::ffff:10.1.2.3", "ams-edge"),  # IPv4-mapped
        ("2001:db8:1::9", "ams"),
        ("2001:db8:2::9", "isp-wide"),
        ("2001:db9::1", None),
    ],
)
def test_the_longest_prefix_wins(address: str, site: str | None) -> None:
    table = PrefixTable.build(ENTRIES)
    assert table.site_for(address) == site
    assert PrefixTable.from_bytes(table.to_bytes()).site_for(address) == site
    assert PrefixIndex(ENTRIES).site_for(address) == site


def test_the_same_prefix_twice_keeps_the_last_and_counts_once() -> None:
    table = PrefixTable.build([("198.51.100.0/24", "a"), ("198.51.100.0/24", "b")])
    assert (table.site_for("198.51.100.1"), len(table)) == ("b", 1)


def test_adjacent_prefixes_of_one_site_are_one_range() -> None:
    table = PrefixTable.build([(f"10.0.{n}.0/24", "ams") for n in range(256)])
    assert (len(table), table.range_count) == (256, 2)  # the range and the gap after it


@pytest.mark.parametrize("bad", ["10.0.0.0", "10.0.0.0/33", "example.com/8", "2001:db8::/129"])
def test_a_bad_prefix_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        PrefixTable.build([(bad, "s")])


def test_a_bad_address_is_a_client_error_never_a_dns_lookup() -> None:
    with pytest.raises(InvalidClientAddress):
        PrefixTable.build(ENTRIES).site_for("localhost")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: b"NOTATABLE" + data,
        lambda data: data[:-1],
        lambda data: data + b"\0",
        lambda data: data[:8],
    ],
    ids=["magic", "short", "long", "header-cut"],
)
def test_bytes_that_are_not_a_table_are_refused(mangle: object) -> None:
    data = PrefixTable.build(ENTRIES).to_bytes()
    with pytest.raises(ValueError, match="prefix table"):
        PrefixTable.from_bytes(mangle(data))  # type: ignore[operator]


def _prefixes(bits: int) -> st.SearchStrategy[str]:
    version = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    return st.builds(
        lambda address, length: str(version((address, length), strict=False)),
        st.integers(0, (1 << bits) - 1),
        st.integers(0, bits),
    )


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.one_of(_prefixes(32), _prefixes(128)), st.sampled_from("abcde")),
        max_size=40,
    ),
    addresses=st.lists(
        st.one_of(
            st.integers(0, (1 << 32) - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
            st.integers(0, (1 << 128) - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
        ),
        max_size=40,
    ),
)
def test_it_answers_as_the_radix_trie(entries: list[tuple[str, str]], addresses: list[str]) -> None:
    trie = PrefixIndex(entries)
    table = PrefixTable.from_bytes(PrefixTable.build(entries).to_bytes())
    # Probe the prefixes' own edges too: where ranges start and end is where a flattening errs.
    probes = list(addresses)
    for prefix, _site in entries:
        network = ipaddress.ip_network(prefix)
        probes += [str(network.network_address), str(network.broadcast_address)]
    for address in probes:
        if address.startswith("::ffff:"):
            continue  # mapped addresses are looked up as IPv4 by both
        assert table.site_for(address) == trie.site_for(address), address
