"""Declarative DynamoDB table specs: services own them, infra creates them, moto mirrors them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AttributeType = Literal["S", "N", "B"]


def physical_table_name(name_prefix: str, logical: str) -> str:
    """A table's AWS name: the stack's prefix and the logical name ('fleet-sites' ->
    'edgefill-dev-fleet-sites'); the services, infra and the lab all call this one."""
    return f"{name_prefix}-{logical}"


class KeyAttribute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    type: AttributeType = "S"


class GlobalIndex(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None


class TableSpec(BaseModel):
    """A table's logical name, keys and GSIs; the physical name adds the stack's prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    hash_key: KeyAttribute
    range_key: KeyAttribute | None = None
    indexes: tuple[GlobalIndex, ...] = ()
    ttl_attribute: str | None = None

    def attributes(self) -> dict[str, AttributeType]:
        """Every key attribute of the table and its indexes, each declared once."""
        found: dict[str, AttributeType] = {}
        keys = [self.hash_key, self.range_key]
        for index in self.indexes:
            keys += [index.hash_key, index.range_key]
        for key in keys:
            if key is not None:
                found[key.name] = key.type
        return found
