"""Rendezvous (highest random weight) hashing: the stable hashes and scores of (key, member).

A key (a content unit, a playback session) ranks the members (appliances) by a score of the
pair and takes the highest first, so adding or removing one of M members moves only the keys
that rank it first. Placement and steering both rank this way, and both use this module.

Hashing every (key, member) pair would cost a cryptographic hash per pair, too slow for
placement (160,000 units x 50 members) and for steering (per request). The score is instead
a universal hash ``(a * h(key) + b) mod p`` with p = 2**61 - 1, where h(key) is a stable hash
of the key and (a, b) are the member's coefficients, stable hashes of its id: for a fixed key
the members' scores are independent and uniform on [0, p), and one costs a multiply and a
modulo in C. Weighted rendezvous (steering's spare capacity) maps the score to u in (0, 1]
and ranks by ``-weight / ln(u)``, which puts a member first with probability proportional
to its weight.

Every hash is blake2b of the id's UTF-8 bytes, the same in every process and on every
machine (unlike `hash`). Placement and steering started with different blake2b derivations
of h and of (a, b), and both are kept: changing placement's would move content between
appliances, changing steering's would send live sessions elsewhere. Tests pin both.

  placement  h = stable_id_hash(key)     (a, b) = member_coefficients(member)
  steering   h = stable_id_residue(key)  (a, b) = split_digest_coefficients(member)
"""

from __future__ import annotations

import hashlib
import math

MODULUS = (1 << 61) - 1  # p, the Mersenne prime every score is taken modulo

Coefficients = tuple[int, int]


def _digest(value: str, *, digest_size: int = 8, salt: bytes = b"") -> int:
    return int.from_bytes(
        hashlib.blake2b(value.encode(), digest_size=digest_size, salt=salt).digest(), "big"
    )


def stable_id_hash(value: str, *, salt: bytes = b"") -> int:
    """An integer in [1, 2**61 - 1) from a string and an optional salt (at most 16 bytes)."""
    return _digest(value, salt=salt) % (MODULUS - 1) + 1


def stable_id_residue(value: str) -> int:
    """An integer in [0, 2**61 - 1) from a string: unsalted blake2b reduced modulo p."""
    return _digest(value) % MODULUS


def member_coefficients(member_id: str) -> Coefficients:
    """(a, b) of one member's score function: the member id hashed with salts "a" and "b"."""
    return stable_id_hash(member_id, salt=b"a"), stable_id_hash(member_id, salt=b"b")


def split_digest_coefficients(member_id: str) -> Coefficients:
    """(a, b) from the two halves of one 16-byte digest: a in [1, p), b in [0, p)."""
    digest = _digest(member_id, digest_size=16)
    return (digest >> 64) % (MODULUS - 1) + 1, (digest & ((1 << 64) - 1)) % MODULUS


def score(key_hash: int, coefficients: Coefficients) -> int:
    """The member's score for the key, in [0, 2**61 - 1): the higher, the earlier it ranks."""
    a, b = coefficients
    return (a * key_hash + b) % MODULUS


def unit_score(key_hash: int, coefficients: Coefficients) -> float:
    """`score` mapped into (0, 1]: ``(score + 0.5) / p``, never 0.

    A float has 53 bits, so up to 256 neighbouring scores share one u, and the 127 highest
    (a chance of about 2**-54 per pair) round to exactly 1.0.
    """
    return (score(key_hash, coefficients) + 0.5) / MODULUS


def weighted_score(weight: float, key_hash: int, coefficients: Coefficients) -> float:
    """The weighted rendezvous score ``-weight / ln(u)``, u = `unit_score` (weight > 0).

    Ranking by it puts each member first with probability proportional to its weight. When u
    rounds to 1.0 the score is its limit, infinity (ln(1) is 0: no division by zero).
    """
    log_u = math.log(unit_score(key_hash, coefficients))
    return -weight / log_u if log_u else math.inf
