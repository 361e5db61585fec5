"""The plan catalogue, from stack config (EDGEFILL_BILLING_PLANS as JSON), and billing settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.common.errors import NotFound


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    plan_id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")
    name: str
    monthly_price_cents: int = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    max_rendition: str = Field(pattern=r"^[0-9]{3,4}p$", description="Best rendition allowed.")

    @property
    def max_height(self) -> int:
        return int(self.max_rendition[:-1])


DEFAULT_PLANS = (
    Plan(plan_id="basic", name="Basic", monthly_price_cents=699, max_rendition="144p"),
    Plan(plan_id="standard", name="Standard", monthly_price_cents=1549, max_rendition="240p"),
    Plan(plan_id="premium", name="Premium", monthly_price_cents=2299, max_rendition="360p"),
)


class BillingSettings(BaseSettings):
    """EDGEFILL_BILLING_*: the stack's plans and billing period."""

    model_config = SettingsConfigDict(env_prefix="EDGEFILL_BILLING_", extra="ignore")

    plans: tuple[Plan, ...] = DEFAULT_PLANS
    period_days: int = Field(default=30, ge=1, le=366)

    @model_validator(mode="after")
    def _unique_plan_ids(self) -> BillingSettings:
        ids = [p.plan_id for p in self.plans]
        if not ids or len(ids) != len(set(ids)):
            raise ValueError("EDGEFILL_BILLING_PLANS must list at least one plan, ids unique")
        return self

    def plan(self, plan_id: str) -> Plan:
        for plan in self.plans:
            if plan.plan_id == plan_id:
                return plan
        known = ", ".join(p.plan_id for p in self.plans)
        raise NotFound(f"plan {plan_id!r} does not exist; choose one of: {known}")
