"""A profile's id: its one pattern (routes, models, requests) and how a new one is made."""

from __future__ import annotations

import secrets
from typing import Annotated

from pydantic import Field

PROFILE_ID_PATTERN = r"^p-[0-9a-f]{12}$"

# As a model field; routes take `ProfileIdPath` from auth.deps (same pattern).
ProfileIdField = Annotated[str, Field(pattern=PROFILE_ID_PATTERN)]


def new_profile_id() -> str:
    """A fresh random profile id matching PROFILE_ID_PATTERN."""
    return f"p-{secrets.token_hex(6)}"
