"""Placement inputs and outputs: content units, cluster members, the policy and the result."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True, slots=True)
class UnitDemand:
    """One content unit to place: its id (``<title>/<rendition>``), total bytes and popularity.

    `popularity` is decayed bytes streamed / unit size, i.e. roughly "recent full views".
    """

    unit_id: str
    size: int
    popularity: float


@dataclass(frozen=True, slots=True)
class Member:
    """One appliance of the cluster and the bytes it may hold."""

    appliance_id: str
    byte_budget: int


class PlacementPolicy(BaseModel):
    """How many copies each unit gets.

    A unit is on ``min_replicas + floor(log2(1 + popularity / views_per_extra_replica))``
    appliances, capped at `max_replicas`. Each member also holds the catalog's head as far as
    its own budget goes: the most popular units whose bytes together fit in `head_fraction`
    of that member's budget. A small member holds a shorter head; no member's head depends on
    the others.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(default=1, ge=1, le=64)
    max_replicas: int = Field(default=4, ge=1, le=64)
    views_per_extra_replica: float = Field(default=4.0, gt=0)
    head_fraction: float = Field(default=0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> PlacementPolicy:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}"
            )
        return self


@dataclass(frozen=True)
class Placement:
    """The result for one cluster.

    `holders` maps each placed unit to its appliances in rendezvous order; `assignments` maps
    each appliance to its units, most popular first; `short` lists units that got fewer
    copies than the policy wanted because budgets ran out (none at all: in `unplaced`).
    """

    holders: dict[str, tuple[str, ...]]
    assignments: dict[str, tuple[str, ...]]
    bytes_used: dict[str, int]
    short: tuple[str, ...] = ()
    unplaced: tuple[str, ...] = ()
    sizes: dict[str, int] = field(default_factory=dict)

    def placed_bytes(self) -> int:
        return sum(self.bytes_used.values())
