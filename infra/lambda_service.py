"""One control-plane service on AWS: its tables, functions, role, logs, routes, schedules, DLQ.

Every service in control_plane/services.py becomes one LambdaService; nothing is per-service.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from control_plane.common.tables import physical_table_name
from control_plane.lambda_entry import (
    FAN_OUT_HANDLER,
    HTTP_HANDLER,
    JOB_HANDLER,
    SECRETS_ARN_ENV,
    SERVICE_ENV,
    fan_out_queue_name,
)
from control_plane.services import PAYMENT_SECRET_ENV, RouteAuth, RoutePrefix, ServiceSpec
from infra.access_policy import ServiceGrants, service_policy_document
from infra.config import Sizes
from infra.http_api import HttpApi
from infra.log_groups import LogSettings, retained_log_group
from infra.monitoring import service_alarms
from infra.tables import service_table

LAMBDA_RUNTIME = "python3.11"
LAMBDA_ARCHITECTURE = "arm64"
SERVICE_TAG = "edgefill:service"
# The SQS message size every queue is held to: the design's 256 KiB (ARCHITECTURE), not AWS's
# current 1 MiB default; the lab's limits (lab/aws_limits.py) take it from here.
SQS_MESSAGE_MAX_BYTES = 256 * 1024

_LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass(frozen=True)
class StackResources:
    """What every service may be wired to; built once by the stack, shared by all services."""

    name_prefix: str
    region: str
    account_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    alarm_topic_arn: pulumi.Input[str]
    secret_arn: pulumi.Input[str]
    payment_secret_arn: pulumi.Input[str]
    origin_bucket: aws.s3.Bucket
    manifest_bucket: aws.s3.Bucket
    user_pool: aws.cognito.UserPool
    user_pool_client_id: pulumi.Input[str]
    api: HttpApi
    logs: LogSettings
    sizes: Sizes
    protect_data: bool
    tags: dict[str, str]
    # Plain settings every function gets as EDGEFILL_* variables (fill window, plan catalogue).
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LambdaServiceArgs:
    spec: ServiceSpec
    archive_path: str
    stack: StackResources


def route_keys(route: RoutePrefix) -> tuple[str, str]:
    """API Gateway route keys for a prefix: the prefix itself and everything under it."""
    prefix = route.prefix.rstrip("/") or ""
    return (f"ANY {prefix or '/'}", f"ANY {prefix}/{{proxy+}}")


def _table_arn(region: str, account: str, table_name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{table_name}"


def _redrive_policy(dead_letters: aws.sqs.Queue, max_receives: int) -> pulumi.Output[str]:
    """After `max_receives` failed receives a message moves to the service's dead-letter queue."""
    return dead_letters.arn.apply(
        lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives})
    )


class LambdaService(pulumi.ComponentResource):
    """A service's tables, HTTP function and/or job function, role, log group, DLQ, alarms.

    A service with no app (jobs only, e.g. placement) gets no HTTP function.
    """

    tables: dict[str, aws.dynamodb.Table]
    http_function: aws.lambda_.Function | None
    job_function: aws.lambda_.Function | None
    dead_letter_queue: aws.sqs.Queue
    fan_out_queues: dict[str, aws.sqs.Queue]

    def __init__(
        self, name: str, args: LambdaServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:LambdaService", name, None, opts)
        spec, stack = args.spec, args.stack
        child = pulumi.ResourceOptions(parent=self)
        base_name = f"{stack.name_prefix}-{spec.name}"
        tags = {**stack.tags, SERVICE_TAG: spec.name}

        self.tables = {
            table.name: service_table(
                f"{name}-table-{table.name}",
                spec=table,
                name_prefix=stack.name_prefix,
                kms_key_arn=stack.kms_key_arn,
                protect_data=stack.protect_data,
                tags=tags,
                opts=child,
            )
            for table in spec.tables
        }
        log_group = retained_log_group(
            f"{name}-logs",
            group_name=f"/aws/lambda/{base_name}",
            settings=LogSettings(
                retention_days=stack.logs.retention_days,
                kms_key_arn=stack.logs.kms_key_arn,
                tags=tags,
            ),
            opts=child,
        )
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            aws.sqs.QueueArgs(
                name=f"{base_name}-dlq",
                kms_master_key_id=stack.kms_key_arn,
                max_message_size=SQS_MESSAGE_MAX_BYTES,
                message_retention_seconds=stack.sizes.dlq_retention_days * 86400,
                tags=tags,
            ),
            child,
        )
        self.fan_out_queues = {
            fan_out.name: aws.sqs.Queue(
                f"{name}-fan-out-{fan_out.name}",
                aws.sqs.QueueArgs(
                    name=fan_out_queue_name(stack.name_prefix, spec.name, fan_out.name),
                    kms_master_key_id=stack.kms_key_arn,
                    max_message_size=SQS_MESSAGE_MAX_BYTES,
                    visibility_timeout_seconds=max(
                        fan_out.visibility_timeout_s, stack.sizes.job_timeout_seconds
                    ),
                    redrive_policy=_redrive_policy(self.dead_letter_queue, fan_out.max_receives),
                    tags=tags,
                ),
                child,
            )
            for fan_out in spec.fan_outs
        }
        role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=f"{base_name}-lambda",
                assume_role_policy=_LAMBDA_TRUST,
                description=f"{spec.name} service Lambda: its own tables and resources only",
                tags=tags,
            ),
            child,
        )
        policy = aws.iam.Policy(
            f"{name}-access",
            aws.iam.PolicyArgs(
                name=f"{base_name}-access",
                description=f"What the {spec.name} service may do, resource by resource",
                policy=self._policy_document(spec, stack, log_group),
                tags=tags,
            ),
            child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-access-attachment",
            aws.iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=policy.arn),
            child,
        )
        function_opts = pulumi.ResourceOptions(parent=self, depends_on=[attachment, log_group])
        environment = self._environment(spec, stack)
        function = functools.partial(
            self._function,
            args=args,
            role=role,
            log_group=log_group,
            environment=environment,
            tags=tags,
            opts=function_opts,
        )
        self.http_function = None
        if spec.has_app:
            self.http_function = function(
                f"{name}-http",
                function_name=base_name,
                handler=HTTP_HANDLER,
                timeout=stack.sizes.lambda_timeout_seconds,
            )
        self.fan_out_workers: dict[str, aws.lambda_.Function] = {}
        self.job_function = None
        if spec.jobs:
            self.job_function = function(
                f"{name}-jobs",
                function_name=f"{base_name}-jobs",
                handler=JOB_HANDLER,
                timeout=stack.sizes.job_timeout_seconds,
            )
            self._schedule_jobs(name, spec, stack, self.job_function, tags)
        for fan_out in spec.fan_outs:
            worker = function(
                f"{name}-fan-out-{fan_out.name}-worker",
                function_name=f"{base_name}-{fan_out.name}",
                handler=FAN_OUT_HANDLER,
                timeout=stack.sizes.job_timeout_seconds,
            )
            aws.lambda_.EventSourceMapping(
                f"{name}-fan-out-{fan_out.name}-source",
                aws.lambda_.EventSourceMappingArgs(
                    event_source_arn=self.fan_out_queues[fan_out.name].arn,
                    function_name=worker.arn,
                    batch_size=1,  # one unit of work per invocation: fails alone
                    function_response_types=["ReportBatchItemFailures"],
                ),
                child,
            )
            self.fan_out_workers[fan_out.name] = worker
        functions: dict[str, aws.lambda_.Function] = {}
        if self.http_function is not None:
            if spec.routes:
                self._route(name, spec, stack.api, self.http_function)
            functions[f"{name}-http"] = self.http_function
        if self.job_function is not None:
            functions[f"{name}-jobs"] = self.job_function
        for fan_out_name, worker in self.fan_out_workers.items():
            functions[f"{name}-{fan_out_name}"] = worker
        service_alarms(
            name,
            label=base_name,
            functions=functions,
            dead_letter_queue=self.dead_letter_queue,
            alarm_topic_arn=stack.alarm_topic_arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "function_names": [f.name for f in functions.values()],
                "dead_letter_queue_url": self.dead_letter_queue.url,
                "table_names": {logical: t.name for logical, t in self.tables.items()},
            }
        )

    def _policy_document(
        self, spec: ServiceSpec, stack: StackResources, log_group: aws.cloudwatch.LogGroup
    ) -> pulumi.Output[str]:
        def build(values: list[object]) -> str:
            account, secret, payment, key, dlq, logs, origin, manifests, pool, *rest = values
            owned, queues = rest[: len(self.tables)], rest[len(self.tables) :]

            def arns(logical_names: tuple[str, ...]) -> tuple[str, ...]:
                return tuple(
                    _table_arn(
                        stack.region, str(account), physical_table_name(stack.name_prefix, name)
                    )
                    for name in logical_names
                )

            return service_policy_document(
                ServiceGrants(
                    own_table_arns=tuple(str(arn) for arn in owned) + arns(spec.writes_tables),
                    read_table_arns=arns(spec.reads_tables),
                    origin_bucket_arn=str(origin) if spec.reads_origin else None,
                    manifest_bucket_arn=str(manifests) if spec.writes_manifests else None,
                    manifest_read_bucket_arn=str(manifests) if spec.reads_manifests else None,
                    steering_snapshot_write_bucket_arn=(
                        str(manifests) if spec.writes_steering_snapshot else None
                    ),
                    steering_snapshot_read_bucket_arn=(
                        str(manifests) if spec.reads_steering_snapshot else None
                    ),
                    user_pool_arn=str(pool) if spec.uses_user_pool else None,
                    fan_out_queue_arns=tuple(str(arn) for arn in queues),
                    metric_namespaces=spec.metric_namespaces,
                    secret_arn=str(secret),
                    payment_secret_arn=str(payment) if spec.uses_payment_secret else None,
                    kms_key_arn=str(key),
                    dead_letter_queue_arn=str(dlq),
                    log_group_arn=str(logs),
                )
            )

        return pulumi.Output.all(
            stack.account_id,
            stack.secret_arn,
            stack.payment_secret_arn,
            stack.kms_key_arn,
            self.dead_letter_queue.arn,
            log_group.arn,
            stack.origin_bucket.arn,
            stack.manifest_bucket.arn,
            stack.user_pool.arn,
            *(table.arn for table in self.tables.values()),
            *(queue.arn for queue in self.fan_out_queues.values()),
        ).apply(build)

    def _environment(
        self, spec: ServiceSpec, stack: StackResources
    ) -> dict[str, pulumi.Input[str]]:
        return {
            SERVICE_ENV: spec.name,
            SECRETS_ARN_ENV: stack.secret_arn,
            "EDGEFILL_ENVIRONMENT": "production",
            "EDGEFILL_AWS_REGION": stack.region,
            "EDGEFILL_NAME_PREFIX": stack.name_prefix,
            "EDGEFILL_ORIGIN_BUCKET": stack.origin_bucket.bucket,
            "EDGEFILL_MANIFEST_BUCKET": stack.manifest_bucket.bucket,
            "EDGEFILL_USER_POOL_ID": stack.user_pool.id,
            "EDGEFILL_USER_POOL_CLIENT_ID": stack.user_pool_client_id,
            "EDGEFILL_KMS_KEY_ID": stack.kms_key_arn,
            **stack.environment,
            **self._fan_out_environment(),
            **({PAYMENT_SECRET_ENV: stack.payment_secret_arn} if spec.uses_payment_secret else {}),
        }

    def _fan_out_environment(self) -> dict[str, pulumi.Input[str]]:
        """EDGEFILL_FAN_OUT_QUEUES: each fan-out's queue URL, as ServiceSettings reads it."""
        if not self.fan_out_queues:
            return {}
        names = list(self.fan_out_queues)
        urls = pulumi.Output.all(*(self.fan_out_queues[n].url for n in names))
        return {
            "EDGEFILL_FAN_OUT_QUEUES": urls.apply(
                lambda values: json.dumps(dict(zip(names, values, strict=True)), sort_keys=True)
            )
        }

    def _function(
        self,
        resource_name: str,
        *,
        function_name: str,
        handler: str,
        timeout: int,
        args: LambdaServiceArgs,
        role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
        environment: dict[str, pulumi.Input[str]],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions,
    ) -> aws.lambda_.Function:
        stack = args.stack
        return aws.lambda_.Function(
            resource_name,
            aws.lambda_.FunctionArgs(
                name=function_name,
                role=role.arn,
                runtime=LAMBDA_RUNTIME,
                architectures=[LAMBDA_ARCHITECTURE],
                handler=handler,
                code=pulumi.FileArchive(args.archive_path),
                memory_size=stack.sizes.lambda_memory_mb,
                timeout=timeout,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
                kms_key_arn=stack.kms_key_arn,
                dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(
                    target_arn=self.dead_letter_queue.arn
                ),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                    log_format="JSON", log_group=log_group.name
                ),
                tags=tags,
            ),
            opts,
        )

    def _route(
        self, name: str, spec: ServiceSpec, api: HttpApi, function: aws.lambda_.Function
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            aws.apigatewayv2.IntegrationArgs(
                api_id=api.api.id,
                integration_type="AWS_PROXY",
                integration_uri=function.invoke_arn,
                payload_format_version="2.0",
            ),
            child,
        )
        aws.lambda_.Permission(
            f"{name}-api-invoke",
            aws.lambda_.PermissionArgs(
                action="lambda:InvokeFunction",
                function=function.name,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(api.api.execution_arn, "/*/*"),
            ),
            child,
        )
        target = pulumi.Output.concat("integrations/", integration.id)
        for route in spec.routes:
            subscriber = route.auth is RouteAuth.SUBSCRIBER
            for route_key in route_keys(route):
                slug = route_key.split(" ", 1)[1].strip("/").replace("/", "-")
                slug = slug.replace("{proxy+}", "proxy") or "root"
                aws.apigatewayv2.Route(
                    f"{name}-route-{slug}",
                    aws.apigatewayv2.RouteArgs(
                        api_id=api.api.id,
                        route_key=route_key,
                        target=target,
                        authorization_type="JWT" if subscriber else "NONE",
                        authorizer_id=api.jwt_authorizer.id if subscriber else None,
                    ),
                    child,
                )

    def _schedule_jobs(
        self,
        name: str,
        spec: ServiceSpec,
        stack: StackResources,
        function: aws.lambda_.Function,
        tags: dict[str, str],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        rules = []
        for job in spec.jobs:
            rule = aws.cloudwatch.EventRule(
                f"{name}-schedule-{job.name}",
                aws.cloudwatch.EventRuleArgs(
                    name=f"{stack.name_prefix}-{spec.name}-{job.name}",
                    description=f"Runs {spec.name}'s {job.name} job",
                    schedule_expression=job.schedule,
                    tags=tags,
                ),
                child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-schedule-{job.name}-target",
                aws.cloudwatch.EventTargetArgs(
                    rule=rule.name,
                    arn=function.arn,
                    input=json.dumps({"job": job.name}),
                    dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                        arn=self.dead_letter_queue.arn
                    ),
                    retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                        maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
                    ),
                ),
                child,
            )
            aws.lambda_.Permission(
                f"{name}-schedule-{job.name}-invoke",
                aws.lambda_.PermissionArgs(
                    action="lambda:InvokeFunction",
                    function=function.name,
                    principal="events.amazonaws.com",
                    source_arn=rule.arn,
                ),
                child,
            )
            rules.append(rule.arn)
        # EventBridge may put undeliverable events in the DLQ, for this service's rules only.
        queue_policy = pulumi.Output.all(self.dead_letter_queue.arn, *rules).apply(
            lambda values: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "ScheduleDeadLetters",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": values[0],
                            "Condition": {"ArnEquals": {"aws:SourceArn": list(values[1:])}},
                        }
                    ],
                }
            )
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            aws.sqs.QueuePolicyArgs(queue_url=self.dead_letter_queue.url, policy=queue_policy),
            child,
        )
