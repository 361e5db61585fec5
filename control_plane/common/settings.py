"""Service settings from the environment (Lambda env vars, or the lab's), built at start-up."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.common.tables import physical_table_name


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Everything a service reads from its environment; names are `EDGEFILL_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="EDGEFILL_", extra="ignore")

    environment: Environment = Environment.PRODUCTION
    aws_region: str = "us-east-1"
    # Set only for moto (tests and the lab); unset in AWS.
    aws_endpoint_url: str | None = None
    name_prefix: str = Field(default="edgefill", pattern=r"^[a-z][a-z0-9-]{1,30}$")
    origin_bucket: str = ""
    manifest_bucket: str = ""
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    kms_key_id: str = Field(
        default="",
        description="The stack's KMS key (its ARN): envelope-encrypts the fleet CA's private "
        "key, so the table holds no key a reader could use without KMS.",
    )
    admin_token: SecretStr = SecretStr("")
    url_signing_secret: SecretStr = SecretStr("")
    session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs playback session tokens (the URLs of a session's HLS and DASH "
        "manifests and its steering server); never leaves the control plane.",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    fleet_view_ttl_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How often playback checks the steering snapshot for a newer one: a drain, "
        "an undrain or a health change reaches new sessions within this long after the "
        "snapshot job's next pass.",
    )
    steering_decision_log_every: int = Field(
        default=1000,
        ge=0,
        description="One playback session in this many (chosen by its id) logs its explained "
        "steering decision as one JSON line (`steering decision`), the client's address left "
        "out; 0 logs none.",
    )
    fan_out_queues: dict[str, str] = Field(
        default_factory=dict,
        description="Fan-out queue name -> SQS queue URL (the stack sets EDGEFILL_FAN_OUT_QUEUES "
        "as JSON); a fan-out without a queue runs its handler in the job, message by message.",
    )
    steering_snapshot_interval_s: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How often the steering snapshot job compiles the fleet.",
    )
    steering_snapshot_run_s: float = Field(
        default=50.0,
        ge=0,
        le=840,
        description="How long one invocation of the snapshot job keeps compiling (EventBridge "
        "invokes it once a minute; 0: one pass).",
    )
    steering_snapshot_max_age_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="Past this age (since the job last checked the fleet) steering stops "
        "trusting the snapshot and sends every client to the origin.",
    )

    def table_name(self, logical: str) -> str:
        """Physical DynamoDB table name for a logical table ('appliances' -> 'edgefill-appliances')."""
        return physical_table_name(self.name_prefix, logical)

    @model_validator(mode="after")
    def _secrets_set_outside_development(self) -> ServiceSettings:
        if self.environment is Environment.PRODUCTION:
            for name in ("admin_token", "url_signing_secret", "session_secret"):
                value: SecretStr = getattr(self, name)
                if len(value.get_secret_value()) < 16:
                    raise ValueError(
                        f"EDGEFILL_{name.upper()} must be set to at least 16 characters in "
                        "production (it comes from Secrets Manager via the stack)"
                    )
        return self
