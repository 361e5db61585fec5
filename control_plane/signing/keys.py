"""One URL-signing key as signers hold it, and the newest key a set of appliances accepts."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
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


def newest_accepted(
    newest_first: Sequence[SigningKey], accepted_by: Iterable[Collection[str]]
) -> SigningKey | None:
    """The newest key whose id every one of `accepted_by` (sets of secret ids) accepts.

    None when `accepted_by` is empty or no key is accepted by all of them.
    """
    sets = [frozenset(ids) for ids in accepted_by]
    if not sets:
        return None
    accepted = frozenset.intersection(*sets)
    for key in newest_first:
        if key.secret_id in accepted:
            return key
    return None
