"""A network prefix as every wire format and config writes it: canonical, its host bits zero;
and the version of a set of them (the site's client prefixes an appliance serves on-net)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator


def canonical_prefix(value: str) -> str:
    """`value` in canonical form (``2001:db8::/32``); ValueError saying what is wrong."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a network prefix with its host bits zero (e.g. 198.51.100.0/24)"
        ) from exc


NetworkPrefix = Annotated[str, AfterValidator(canonical_prefix)]


def prefix_set_version(prefixes: Iterable[str]) -> str:
    """A version of a set of canonical prefixes: the same for the same set in any order."""
    digest = hashlib.sha256("\n".join(sorted(set(prefixes))).encode()).hexdigest()
    return "p" + digest[:24]
