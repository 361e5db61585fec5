"""The whole control plane: shared base, storage, directory, API, one LambdaService per service."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from control_plane.services import ServiceSpec
from edgefill_contracts import FLEET_PREFIX
from infra.config import StackConfig
from infra.errors import RegistryError
from infra.http_api import HttpApi, HttpApiArgs
from infra.identity import SubscriberDirectory, SubscriberDirectoryArgs
from infra.lambda_service import LambdaService, LambdaServiceArgs, StackResources, route_keys
from infra.log_groups import LogSettings
from infra.monitoring import Monitoring, MonitoringArgs
from infra.secrets import PaymentSecret, ServiceSecrets, ServiceSecretsArgs
from infra.shared import SharedBase, SharedBaseArgs
from infra.storage import OriginStorage, OriginStorageArgs


@dataclass(frozen=True)
class StackSecrets:
    """Operator-supplied secrets from the stack config; None means 'generate one'."""

    url_signing_secret: pulumi.Output[str] | None = None
    admin_token: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class ControlPlane:
    """The built stack; `outputs()` is what Ansible, the agent and operators read."""

    api: HttpApi
    storage: OriginStorage
    directory: SubscriberDirectory
    shared: SharedBase
    secrets: ServiceSecrets
    payment_secret: PaymentSecret
    services: Mapping[str, LambdaService]
    monitoring: Monitoring
    config: StackConfig

    def outputs(self) -> dict[str, pulumi.Input[object]]:
        return {
            "region": self.config.region,
            "name_prefix": self.config.name_prefix,
            "api_url": self.api.url,
            # What an appliance's agent is configured with (Ansible reads it from here).
            "fleet_api_url": pulumi.Output.concat(self.api.url, FLEET_PREFIX),
            "user_pool_id": self.directory.user_pool.id,
            "user_pool_client_id": self.directory.client.id,
            "origin_bucket": self.storage.origin.bucket.bucket,
            "manifest_bucket": self.storage.manifests.bucket.bucket,
            "kms_key_arn": self.shared.key.arn,
            "alarm_topic_arn": self.shared.alarm_topic.arn,
            "service_secrets_arn": self.secrets.secret.arn,
            "payment_secret_arn": self.payment_secret.secret.arn,
            "dashboard_name": self.monitoring.dashboard.dashboard_name,
            "function_names": {
                n: s.http_function.name
                for n, s in self.services.items()
                if s.http_function is not None
            },
            "table_names": {
                logical: table.name
                for service in self.services.values()
                for logical, table in service.tables.items()
            },
        }


def check_registry(services: Sequence[ServiceSpec]) -> None:
    """Refuse a registry the stack cannot build: clashing names or routes, dangling table reads."""
    seen_services: set[str] = set()
    tables: set[str] = set()
    route_owner: dict[str, str] = {}
    for spec in services:
        if spec.name in seen_services:
            raise RegistryError(f"two services are named {spec.name!r}; rename one in its spec")
        seen_services.add(spec.name)
        for table in spec.tables:
            if table.name in tables:
                raise RegistryError(
                    f"table {table.name!r} is declared twice (again by {spec.name!r}); a table "
                    "has one owning service, others list it in reads_tables"
                )
            tables.add(table.name)
        for route in spec.routes:
            for key in route_keys(route):
                if key in route_owner:
                    raise RegistryError(
                        f"route {key!r} is claimed by {route_owner[key]!r} and {spec.name!r}; "
                        "give each service its own prefix"
                    )
                route_owner[key] = spec.name
    for spec in services:
        dangling = sorted((set(spec.reads_tables) | set(spec.writes_tables)) - tables)
        if dangling:
            raise RegistryError(
                f"service {spec.name!r} reads or writes tables {dangling} that no service "
                "declares; fix reads_tables/writes_tables or add the table to its owner's spec"
            )


def build_control_plane(
    *,
    config: StackConfig,
    services: Sequence[ServiceSpec],
    archive_path: str,
    secrets: StackSecrets | None = None,
) -> ControlPlane:
    """Declare every resource of the stack; every function runs the archive at `archive_path`."""
    check_registry(services)
    secrets = secrets or StackSecrets()
    prefix = config.name_prefix
    tags = config.resource_tags()
    account_id = aws.get_caller_identity_output().account_id

    shared = SharedBase(
        prefix,
        SharedBaseArgs(
            name_prefix=prefix,
            region=config.region,
            account_id=account_id,
            alarm_email=config.alarm_email,
            tags=tags,
        ),
    )
    logs = LogSettings(
        retention_days=config.log_retention_days, kms_key_arn=shared.key.arn, tags=tags
    )
    stored_secrets = ServiceSecrets(
        f"{prefix}-secrets",
        ServiceSecretsArgs(
            name_prefix=prefix,
            kms_key_id=shared.key.arn,
            tags=tags,
            url_signing_secret=secrets.url_signing_secret,
            admin_token=secrets.admin_token,
        ),
    )
    payment_secret = PaymentSecret(
        f"{prefix}-payment", name_prefix=prefix, kms_key_id=shared.key.arn, tags=tags
    )
    storage = OriginStorage(
        f"{prefix}-storage",
        OriginStorageArgs(
            name_prefix=prefix,
            account_id=account_id,
            region=config.region,
            kms_key_arn=shared.key.arn,
            protect_data=config.protect_data,
            tags=tags,
        ),
    )
    directory = SubscriberDirectory(
        f"{prefix}-subscribers",
        SubscriberDirectoryArgs(
            name_prefix=prefix,
            password_min_length=config.sizes.password_min_length,
            access_token_minutes=config.sizes.access_token_minutes,
            refresh_token_days=config.sizes.refresh_token_days,
            protect_data=config.protect_data,
            tags=tags,
        ),
    )
    api = HttpApi(
        f"{prefix}-http",
        HttpApiArgs(
            name_prefix=prefix,
            region=config.region,
            user_pool_id=directory.user_pool.id,
            user_pool_client_id=directory.client.id,
            throttle_rate_per_second=config.sizes.api_throttle_rate_per_second,
            throttle_burst=config.sizes.api_throttle_burst,
            logs=logs,
            tags=tags,
            custom_domain=config.custom_domain,
        ),
    )
    stack_resources = StackResources(
        name_prefix=prefix,
        region=config.region,
        account_id=account_id,
        kms_key_arn=shared.key.arn,
        alarm_topic_arn=shared.alarm_topic.arn,
        secret_arn=stored_secrets.secret.arn,
        payment_secret_arn=payment_secret.secret.arn,
        origin_bucket=storage.origin.bucket,
        manifest_bucket=storage.manifests.bucket,
        user_pool=directory.user_pool,
        user_pool_client_id=directory.client.id,
        api=api,
        logs=logs,
        sizes=config.sizes,
        protect_data=config.protect_data,
        tags=tags,
        environment={
            "EDGEFILL_FILL_WINDOW": config.fill_window.model_dump_json(),
            "EDGEFILL_FLEET_VIEW_TTL_S": str(config.sizes.fleet_view_ttl_seconds),
            "EDGEFILL_PLAN_CATALOGUE": json.dumps(
                [plan.model_dump(by_alias=True) for plan in config.plans]
            ),
        },
    )
    built = {
        spec.name: LambdaService(
            f"{prefix}-{spec.name}",
            LambdaServiceArgs(spec=spec, archive_path=archive_path, stack=stack_resources),
        )
        for spec in services
    }
    functions: list[pulumi.Input[str]] = []
    for service in built.values():
        if service.http_function is not None:
            functions.append(service.http_function.name)
        if service.job_function is not None:
            functions.append(service.job_function.name)
    monitoring = Monitoring(
        f"{prefix}-monitoring",
        MonitoringArgs(
            name_prefix=prefix,
            region=config.region,
            api_id=api.api.id,
            function_names=functions,
            dead_letter_queue_names=[s.dead_letter_queue.name for s in built.values()],
            alarm_topic_arn=shared.alarm_topic.arn,
            stale_fleet_minutes=config.sizes.stale_fleet_minutes,
            tags=tags,
        ),
    )
    return ControlPlane(
        api=api,
        storage=storage,
        directory=directory,
        shared=shared,
        secrets=stored_secrets,
        payment_secret=payment_secret,
        services=built,
        monitoring=monitoring,
        config=config,
    )
