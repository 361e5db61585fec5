"""The stack's config schema (Pulumi.<stack>.yaml), validated once when the program starts.

Keys live in the `edgefill:` namespace, camelCase, plus the provider's `aws:region`:

    aws:region                required  AWS region of the whole control plane
    edgefill:namePrefix       required  prefix of every physical name ("edgefill-dev")
    edgefill:tags             required  map of tags put on every taggable resource
    edgefill:alarmEmail       required  address the alarm topic mails (confirm the subscription)
    edgefill:fillWindow       optional  default fill window {start, end, timezone}
    edgefill:plans            required  subscription plans [{id, name, monthlyPriceCents, ...}]
    edgefill:logRetentionDays optional  CloudWatch retention (one of AWS's allowed values)
    edgefill:customDomain     optional  {domainName, certificateArn} for the HTTP API
    edgefill:sizes            optional  Lambda memory/timeout, API throttling, token lifetimes,
                                        stale-fleet alarm delay, fleet view age (steering)
    edgefill:protectData      optional  default true: tables and user pool refuse deletion and
                                        buckets keep their objects; set false before `destroy`
    edgefill:urlSigningSecret optional  secret; generated with the random provider when unset
    edgefill:adminToken       optional  secret; generated with the random provider when unset
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from edgefill_contracts import FillWindow
from infra.errors import StackConfigError

PROJECT = "edgefill"

LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827]

_TAG_KEY = r"^[A-Za-z0-9_.:/=+@-]{1,128}$"


class _ConfigModel(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Plan(_ConfigModel):
    """One subscription plan of the catalogue billing sells."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name: str = Field(min_length=1, max_length=64)
    monthly_price_cents: int = Field(ge=0)
    max_streams: int = Field(ge=1, le=10)
    max_height: Literal[480, 720, 1080, 2160]


class CustomDomain(_ConfigModel):
    """A domain for the HTTP API, with an ACM certificate issued in the stack's region."""

    domain_name: str = Field(max_length=253, pattern=r"^([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
    certificate_arn: str = Field(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/.+$")


class Sizes(_ConfigModel):
    """Capacity and lifetime knobs; the defaults suit a small deployment."""

    lambda_memory_mb: int = Field(default=512, ge=128, le=10240)
    lambda_timeout_seconds: int = Field(default=15, ge=1, le=900)
    job_timeout_seconds: int = Field(default=300, ge=1, le=900)
    api_throttle_rate_per_second: float = Field(default=200.0, gt=0, le=10000)
    api_throttle_burst: int = Field(default=400, ge=1, le=5000)
    access_token_minutes: int = Field(default=60, ge=5, le=1440)
    refresh_token_days: int = Field(default=30, ge=1, le=3650)
    password_min_length: int = Field(default=12, ge=8, le=99)
    dlq_retention_days: int = Field(default=14, ge=1, le=14)
    stale_fleet_minutes: int = Field(default=15, ge=5, le=1440)
    # How old steering's cached view of the fleet may get: a drain, an undrain or a health
    # change reaches new sessions within this long. Same bounds as the service setting.
    fleet_view_ttl_seconds: int = Field(default=30, ge=1, le=600)


class StackConfig(_ConfigModel):
    """Everything the program reads from the stack's config, checked before any resource."""

    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    name_prefix: str = Field(pattern=r"^[a-z][a-z0-9-]{1,20}$")
    tags: dict[Annotated[str, Field(pattern=_TAG_KEY)], Annotated[str, Field(max_length=256)]]
    alarm_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    fill_window: FillWindow = FillWindow()
    plans: tuple[Plan, ...] = Field(min_length=1)
    log_retention_days: LogRetentionDays = 30
    custom_domain: CustomDomain | None = None
    sizes: Sizes = Sizes()
    protect_data: bool = True

    @field_validator("tags")
    @classmethod
    def _tags_present(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("give at least one tag (for example project and owner)")
        if any(key.startswith("aws:") for key in value):
            raise ValueError("tag keys starting with 'aws:' are reserved by AWS")
        return value

    @field_validator("plans")
    @classmethod
    def _plan_ids_unique(cls, value: tuple[Plan, ...]) -> tuple[Plan, ...]:
        ids = [plan.id for plan in value]
        if len(ids) != len(set(ids)):
            raise ValueError(f"plan ids must be unique, got {ids}")
        return value

    def resource_tags(self) -> dict[str, str]:
        """The configured tags plus the ones every edgefill resource carries."""
        return {**self.tags, "edgefill:stack": self.name_prefix}


# Keys whose YAML value is a map or list: Pulumi hands them to the program as JSON text.
_STRUCTURED_KEYS = frozenset({"tags", "fillWindow", "plans", "customDomain", "sizes"})
_INTEGER_KEYS = frozenset({"logRetentionDays"})
_BOOLEAN_KEYS = frozenset({"protectData"})


def load_stack_config() -> StackConfig:
    """Read and validate the stack config; a missing or bad key fails here, at preview time."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, object] = {}
    region = pulumi.Config("aws").get("region")
    if region is not None:
        raw["region"] = region
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        if name == "region":
            continue
        try:
            value: object
            if key in _STRUCTURED_KEYS:
                value = config.get_object(key)
            elif key in _INTEGER_KEYS:
                value = config.get_int(key)
            elif key in _BOOLEAN_KEYS:
                value = config.get_bool(key)
            else:
                value = config.get(key)
        except (json.JSONDecodeError, pulumi.ConfigTypeError) as exc:
            raise StackConfigError(
                f"{PROJECT}:{key} is not valid: {exc}; fix it in Pulumi.<stack>.yaml"
            ) from exc
        if value is not None:
            raw[key] = value
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise StackConfigError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        head = "aws:region" if location[:1] == ["region"] else f"{PROJECT}:{location[0]}"
        where = ".".join([head, *location[1:]])
        problems.append(f"  {where}: {error['msg']}")
    return (
        "the stack config is invalid:\n"
        + "\n".join(problems)
        + "\nfix: set each key with `pulumi config set <key> <value>` (structured values with "
        "--path or in Pulumi.<stack>.yaml); the schema is documented in infra/config.py"
    )
