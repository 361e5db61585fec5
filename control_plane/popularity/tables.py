"""The popularity table (declarative; owned by the fleet service's registry entry)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec

POPULARITY_TABLE = TableSpec(name="popularity", hash_key=KeyAttribute(name="unit_id"))
