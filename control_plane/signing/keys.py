"""URL-signing keys as signers hold them, and the newest key a set of appliances accepts."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from control_plane.signing.key_store import StoredSigningSecret


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One URL-signing secret the control plane knows, with when it was created."""

    secret_id: str
    secret: SecretStr
    created_at: datetime


def as_signing_keys(stored: Iterable[StoredSigningSecret]) -> list[SigningKey]:
    """The stored secrets as signing keys, newest first."""
    keys = [
        SigningKey(secret_id=s.secret_id, secret=SecretStr(s.value), created_at=s.created_at)
        for s in stored
    ]
    return sorted(keys, key=lambda k: k.created_at, reverse=True)


class KeyRing:
    """Every site's active keys by id: the newest key a set of appliances accepts is found
    from what they accept (a handful of ids each), not by walking the fleet's thousands of
    keys (2,000 sites hold up to 8,000)."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self._by_id = {k.secret_id: k for k in keys}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, secret_id: str) -> SigningKey | None:
        return self._by_id.get(secret_id)

    def newest_of(self, accepted: Collection[str]) -> SigningKey | None:
        """The newest active key among `accepted` (one appliance's ids); None if none."""
        found = [k for i in accepted if (k := self._by_id.get(i)) is not None]
        return max(found, key=lambda k: (k.created_at, k.secret_id), default=None)

    def accepts_any(self, accepted: Collection[str]) -> bool:
        """True if `accepted` holds at least one active key."""
        return any(i in self._by_id for i in accepted)

    def newest_accepted(self, accepted_by: Iterable[Collection[str]]) -> SigningKey | None:
        """The newest active key whose id every one of `accepted_by` (sets of ids) accepts.

        None when `accepted_by` is empty or no active key is accepted by all of them.
        """
        sets = [frozenset(ids) for ids in accepted_by]
        if not sets:
            return None
        return self.newest_of(frozenset.intersection(*sets))
