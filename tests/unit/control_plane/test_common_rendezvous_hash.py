"""The rendezvous hash: pinned values, and equal to the derivations placement and steering had."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.common.rendezvous_hash import (
    MODULUS,
    member_coefficients,
    score,
    split_digest_coefficients,
    stable_id_hash,
    stable_id_residue,
    unit_score,
    weighted_score,
)

P = (1 << 61) - 1


# The derivations as placement/rendezvous.py and steering/{rank,view}.py wrote them before
# they moved here, copied verbatim: what the module must keep computing.
def old_placement_hash(value: str, *, salt: bytes = b"") -> int:
    digest = hashlib.blake2b(value.encode(), digest_size=8, salt=salt).digest()
    return int.from_bytes(digest, "big") % (P - 1) + 1


def old_session_hash(session_id: str) -> int:
    digest = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % P


def old_steering_coefficients(appliance_id: str) -> tuple[int, int]:
    digest = hashlib.blake2b(appliance_id.encode(), digest_size=16).digest()
    a = int.from_bytes(digest[:8], "big") % (P - 1) + 1
    b = int.from_bytes(digest[8:], "big") % P
    return a, b


def old_steering_score(session_hash: int, coefficients: tuple[int, int], weight: float) -> float:
    a, b = coefficients
    u = (((a * session_hash + b) % P) + 0.5) / P
    return -weight / math.log(u)


def test_the_modulus_is_the_mersenne_prime_2_61_minus_1() -> None:
    assert MODULUS == P == 2_305_843_009_213_693_951


# Values computed by the code before the move; a change here moves content or sessions.
@pytest.mark.parametrize(
    ("value", "salt", "expected"),
    [
        ("title-00001/720p", b"", 1945243386939967472),
        ("app-00", b"a", 643544179743102156),
        ("app-00", b"b", 402160200025842042),
        ("", b"", 335131519762412227),
    ],
)
def test_stable_id_hash_is_pinned(value: str, salt: bytes, expected: int) -> None:
    assert stable_id_hash(value, salt=salt) == expected


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("app-00", (643544179743102156, 402160200025842042)),
        ("app-01", (677316607488455234, 1829462767656515230)),
        ("ams-1", (1136682936412063231, 1882277299647117877)),
    ],
)
def test_member_coefficients_are_pinned(member: str, expected: tuple[int, int]) -> None:
    assert member_coefficients(member) == expected


@pytest.mark.parametrize(
    ("unit", "member", "expected"),
    [
        ("title-00001/720p", "app-00", 1967998372579610692),
        ("title-00001/720p", "app-01", 2031548370002735683),
        ("title-00001/720p", "app-02", 1533478492470559751),
        ("title-00002/1080p", "app-00", 1812502828877923700),
        ("title-00002/1080p", "app-01", 1497558910175406774),
        ("title-00002/1080p", "app-02", 1299310203311396833),
    ],
)
def test_placement_scores_of_unit_and_member_are_pinned(
    unit: str, member: str, expected: int
) -> None:
    assert score(stable_id_hash(unit), member_coefficients(member)) == expected


@pytest.mark.parametrize(
    ("session", "expected"),
    [("session-1", 1029561990070396849), ("s7", 362334311258628404), ("", 335131519762412219)],
)
def test_stable_id_residue_is_pinned(session: str, expected: int) -> None:
    assert stable_id_residue(session) == expected


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("a0", (108999901000719977, 334942197309822063)),
        ("ams-1", (651529621342503650, 1655120038293720879)),
    ],
)
def test_split_digest_coefficients_are_pinned(member: str, expected: tuple[int, int]) -> None:
    assert split_digest_coefficients(member) == expected


@settings(max_examples=300, deadline=None)
@given(
    key=st.text(max_size=40),
    member=st.text(max_size=40),
    salt=st.binary(max_size=16),
    weight=st.floats(min_value=1e-6, max_value=1.0),
)
def test_equal_to_the_derivations_placement_and_steering_had(
    key: str, member: str, salt: bytes, weight: float
) -> None:
    assert stable_id_hash(key, salt=salt) == old_placement_hash(key, salt=salt)
    assert member_coefficients(member) == (
        old_placement_hash(member, salt=b"a"),
        old_placement_hash(member, salt=b"b"),
    )
    assert stable_id_residue(key) == old_session_hash(key)
    assert split_digest_coefficients(member) == old_steering_coefficients(member)
    coefficients = split_digest_coefficients(member)
    session_hash = stable_id_residue(key)
    assert weighted_score(weight, session_hash, coefficients) == old_steering_score(
        session_hash, coefficients, weight
    )


@settings(max_examples=200, deadline=None)
@given(key=st.text(max_size=40), member=st.text(max_size=40))
def test_hashes_and_scores_stay_in_their_ranges(key: str, member: str) -> None:
    assert 1 <= stable_id_hash(key) < MODULUS
    assert 0 <= stable_id_residue(key) < MODULUS
    for a, b in (member_coefficients(member), split_digest_coefficients(member)):
        assert 1 <= a < MODULUS
        assert 0 <= b < MODULUS
    s = score(stable_id_hash(key), member_coefficients(member))
    assert 0 <= s < MODULUS
    assert 0 < unit_score(stable_id_hash(key), member_coefficients(member)) <= 1


@pytest.mark.parametrize(
    ("key_hash", "coefficients", "u"),
    [
        (0, (1, 0), 0.5 / P),  # the lowest score: u > 0, so ln(u) is finite
        (0, (1, 1), 1.5 / P),
        (1, (MODULUS - 1, 0), (P - 1 + 0.5) / P),  # the highest score: u rounds to 1.0
        (0, (1, P - 300), (P - 300 + 0.5) / P),  # far enough below the top to stay under 1
    ],
)
def test_unit_score_at_the_ends(key_hash: int, coefficients: tuple[int, int], u: float) -> None:
    assert unit_score(key_hash, coefficients) == u
    assert 0 < u <= 1


def test_a_unit_score_of_one_gives_an_infinite_weighted_score_not_a_division_by_zero() -> None:
    top = (1, (MODULUS - 1, 0))  # score p - 1, the highest there is
    assert unit_score(*top) == 1.0
    assert weighted_score(0.5, *top) == math.inf
    below = (0, (1, P - 300))
    assert unit_score(*below) < 1.0
    assert math.isfinite(weighted_score(0.5, *below))
    assert weighted_score(0.5, *below) == old_steering_score(0, (1, P - 300), 0.5)


def test_a_heavier_member_wins_in_proportion_to_its_weight() -> None:
    heavy, light = split_digest_coefficients("heavy"), split_digest_coefficients("light")
    sessions = [stable_id_residue(f"s{n}") for n in range(4000)]
    wins = sum(weighted_score(0.75, s, heavy) > weighted_score(0.25, s, light) for s in sessions)
    assert 0.70 < wins / len(sessions) < 0.80  # 0.75 expected


def test_a_salt_longer_than_blake2b_allows_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        stable_id_hash("x", salt=b"s" * 17)
