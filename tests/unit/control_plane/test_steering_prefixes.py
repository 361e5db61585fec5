"""The prefix trie: longest match over IPv4 and IPv6, strict parsing, no DNS."""

from __future__ import annotations

import pytest

from control_plane.steering.errors import InvalidClientAddress
from control_plane.steering.prefixes import PrefixIndex, packed_address


def test_longest_prefix_wins_in_both_families() -> None:
    index = PrefixIndex(
        [
            ("0.0.0.0/0", "any4"),
            ("10.0.0.0/8", "a"),
            ("10.1.0.0/16", "b"),
            ("::/0", "any6"),
            ("2001:db8::/32", "c"),
        ]
    )
    assert len(index) == 5
    assert [
        index.site_for(ip) for ip in ("10.1.2.3", "10.2.0.1", "8.8.8.8", "2001:db8::1", "2002::1")
    ] == [
        "b",
        "a",
        "any4",
        "c",
        "any6",
    ]
    assert index.site_for("::ffff:10.1.0.9") == "b"


@pytest.mark.parametrize(
    "bad", ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/x", "x/8", "::/129", "10.0.0/8"]
)
def test_bad_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        PrefixIndex([(bad, "s")])


@pytest.mark.parametrize(
    "bad", ["localhost", "example.com", "", "1.2.3", "10.0.0.1/32", "fe80::1%eth0", "1.2.3.256"]
)
def test_client_addresses_are_parsed_strictly_and_never_resolved(bad: str) -> None:
    with pytest.raises(InvalidClientAddress):
        packed_address(bad)
    with pytest.raises(InvalidClientAddress):
        PrefixIndex([("0.0.0.0/0", "s")]).site_for(bad)
