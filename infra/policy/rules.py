"""The policy rules as plain validators: `validate(args, report_violation)`.

The pack (`infra/policy/__main__.py`) wraps them in ResourceValidationPolicy objects; the tests
call the same functions over the mocked resource graph. Rules that depend on the service
registry (role scope, route authorizers) are built from a list of ServiceSpecs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from control_plane.common.tables import physical_table_name
from control_plane.services import RouteAuth, ServiceSpec
from infra.lambda_service import SERVICE_TAG, route_keys

STACK_TAG = "edgefill:stack"


class ValidationArgs(Protocol):
    """What a validator reads of pulumi_policy's ResourceValidationArgs."""

    resource_type: str
    name: str
    props: Mapping[str, Any]


ReportViolation = Callable[..., None]
Validator = Callable[[ValidationArgs, ReportViolation], None]

# Every resource type the stack declares that accepts tags.
TAGGABLE_TYPES = frozenset(
    {
        "aws:kms/key:Key",
        "aws:sns/topic:Topic",
        "aws:s3/bucket:Bucket",
        "aws:dynamodb/table:Table",
        "aws:sqs/queue:Queue",
        "aws:iam/role:Role",
        "aws:iam/policy:Policy",
        "aws:lambda/function:Function",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:apigatewayv2/api:Api",
        "aws:apigatewayv2/stage:Stage",
        "aws:apigatewayv2/domainName:DomainName",
        "aws:cognito/userPool:UserPool",
        "aws:secretsmanager/secret:Secret",
    }
)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _statements(document: Any) -> list[Mapping[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    return [s for s in _as_list((parsed or {}).get("Statement")) if isinstance(s, Mapping)]


# Actions IAM cannot scope to a resource, each with the condition key that must scope it instead.
RESOURCELESS_ACTIONS = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}


# Condition operators that limit a key to exactly the listed values.
_EXACT_OPERATORS = ("StringEquals", "ForAllValues:StringEquals")


def _scoped_by_condition(statement: Mapping[str, Any], allowed: set[str]) -> bool:
    """A Resource '*' statement is acceptable only for resourceless actions, each limited by
    an exact match of its condition key to values the service declared (e.g. PutMetricData to
    the metric namespaces in its registry entry): no wildcards, no negation, no Null test."""
    actions = [str(a) for a in _as_list(statement.get("Action"))]
    condition = statement.get("Condition")
    if not actions or not isinstance(condition, Mapping):
        return False
    for action in actions:
        key = RESOURCELESS_ACTIONS.get(action)
        if key is None:
            return False
        values = [
            str(v)
            for operator in _EXACT_OPERATORS
            if isinstance(condition.get(operator), Mapping)
            for v in _as_list(condition[operator].get(key))
        ]
        if not values or any(c in v for v in values for c in "*?") or not set(values) <= allowed:
            return False
    return True


# -- buckets --------------------------------------------------------------------------------


def bucket_encrypted(args: ValidationArgs, report_violation: ReportViolation) -> None:
    """A bucket's default encryption is SSE-KMS with a named key."""
    if (
        args.resource_type
        != "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ):
        return
    rules = _as_list(args.props.get("rules"))
    defaults = [r.get("applyServerSideEncryptionByDefault") or {} for r in rules]
    if not defaults or any(
        d.get("sseAlgorithm") != "aws:kms" or not d.get("kmsMasterKeyId") for d in defaults
    ):
        report_violation(
            f"{args.name}: bucket encryption must be aws:kms with the stack's key "
            "(set sse_algorithm='aws:kms' and kms_master_key_id)"
        )


def bucket_private(args: ValidationArgs, report_violation: ReportViolation) -> None:
    """No public ACL, every public-access block flag on, no bucket policy that allows anyone."""
    if args.resource_type == "aws:s3/bucket:Bucket":
        acl = args.props.get("acl")
        if acl not in (None, "private"):
            report_violation(f"{args.name}: bucket ACL {acl!r} is not private; remove the acl")
    elif args.resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        off = [flag for flag in flags if args.props.get(flag) is not True]
        if off:
            report_violation(f"{args.name}: public access block leaves {off} off; set all four")
    elif args.resource_type == "aws:s3/bucketPolicy:BucketPolicy":
        for statement in _statements(args.props.get("policy")):
            principal = statement.get("Principal")
            public = principal == "*" or (
                isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))
            )
            if statement.get("Effect") == "Allow" and public:
                report_violation(
                    f"{args.name}: bucket policy allows anyone (Principal '*'); "
                    "grant roles by ARN instead"
                )


# -- tables, logs, async targets ------------------------------------------------------------


def table_recoverable(args: ValidationArgs, report_violation: ReportViolation) -> None:
    """Every table has point-in-time recovery and KMS encryption."""
    if args.resource_type != "aws:dynamodb/table:Table":
        return
    if not (args.props.get("pointInTimeRecovery") or {}).get("enabled"):
        report_violation(f"{args.name}: point-in-time recovery is off; enable it")
    encryption = args.props.get("serverSideEncryption") or {}
    if not encryption.get("enabled") or not encryption.get("kmsKeyArn"):
        report_violation(f"{args.name}: table is not encrypted with the stack's KMS key")


def log_group_retained(args: ValidationArgs, report_violation: ReportViolation) -> None:
    """Every log group expires its entries."""
    if args.resource_type != "aws:cloudwatch/logGroup:LogGroup":
        return
    retention = args.props.get("retentionInDays")
    if not retention or retention <= 0:
        report_violation(
            f"{args.name}: log group keeps entries forever; set retention_in_days "
            "(the stack's edgefill:logRetentionDays)"
        )


def async_target_has_dead_letter_queue(
    args: ValidationArgs, report_violation: ReportViolation
) -> None:
    """Functions (invoked asynchronously by schedules) and schedule targets have a DLQ."""
    if args.resource_type == "aws:lambda/function:Function":
        if not (args.props.get("deadLetterConfig") or {}).get("targetArn"):
            report_violation(
                f"{args.name}: function has no dead-letter queue; set dead_letter_config"
            )
    elif args.resource_type == "aws:cloudwatch/eventTarget:EventTarget" and not (
        args.props.get("deadLetterConfig") or {}
    ).get("arn"):
        report_violation(f"{args.name}: schedule target has no dead-letter queue")


def tagged(args: ValidationArgs, report_violation: ReportViolation) -> None:
    """Every taggable resource carries the stack tag (and with it the configured tags)."""
    if args.resource_type not in TAGGABLE_TYPES:
        return
    tags = args.props.get("tags") or {}
    if not tags.get(STACK_TAG):
        report_violation(
            f"{args.name}: resource is not tagged with {STACK_TAG}; pass the stack's tags"
        )


# -- rules that read the service registry ---------------------------------------------------


def _table_name_of(resource: str) -> str | None:
    # arn:aws:dynamodb:<region>:<account>:table/<name>[/index/<index>]
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
        return None
    return parts[5].split("/")[1]


def role_policy_least_privilege(services: Sequence[ServiceSpec]) -> Validator:
    """No wildcard actions or resources (Resource '*' only where IAM has no resource to name,
    scoped by an exact condition); DynamoDB only on the service's own or read tables."""
    metric_namespaces = {spec.name: set(spec.metric_namespaces) for spec in services}
    allowed_logical = {
        spec.name: {table.name for table in spec.tables}
        | set(spec.reads_tables)
        | set(spec.writes_tables)
        for spec in services
    }

    def validate(args: ValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"):
            return
        tags = args.props.get("tags") or {}
        service, prefix = tags.get(SERVICE_TAG), tags.get(STACK_TAG)
        for statement in _statements(args.props.get("policy")):
            if statement.get("Effect") != "Allow":
                continue
            for action in _as_list(statement.get("Action")):
                if "*" in str(action):
                    report_violation(f"{args.name}: wildcard action {action!r}; name each action")
            resources = [str(r) for r in _as_list(statement.get("Resource"))]
            if "*" in resources and not _scoped_by_condition(
                statement, metric_namespaces.get(str(service), set())
            ):
                report_violation(f"{args.name}: statement on Resource '*'; name the ARNs")
            tables = {name for r in resources if (name := _table_name_of(r)) is not None}
            if not tables:
                continue
            if service not in allowed_logical or not prefix:
                report_violation(
                    f"{args.name}: grants DynamoDB access but is not tagged with a registered "
                    f"{SERVICE_TAG} and {STACK_TAG}, so its scope cannot be checked"
                )
                continue
            allowed = {physical_table_name(prefix, t) for t in allowed_logical[service]}
            for table in sorted(tables - allowed):
                report_violation(
                    f"{args.name}: service {service!r} is granted table {table!r}, which it "
                    "neither owns nor lists in reads_tables"
                )

    return validate


def routes_behind_right_authorizer(services: Sequence[ServiceSpec]) -> Validator:
    """Subscriber routes use the JWT authorizer; other routes none (the app checks them)."""
    expected: dict[str, RouteAuth] = {
        key: route.auth for spec in services for route in spec.routes for key in route_keys(route)
    }

    def validate(args: ValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != "aws:apigatewayv2/route:Route":
            return
        key = str(args.props.get("routeKey"))
        auth = expected.get(key)
        kind = args.props.get("authorizationType") or "NONE"
        if auth is None:
            report_violation(f"{args.name}: route {key!r} is not declared by any service")
        elif auth is RouteAuth.SUBSCRIBER and (kind != "JWT" or not args.props.get("authorizerId")):
            report_violation(f"{args.name}: subscriber route {key!r} must use the JWT authorizer")
        elif auth is not RouteAuth.SUBSCRIBER and kind != "NONE":
            report_violation(
                f"{args.name}: {auth.value} route {key!r} is checked by the app, so API Gateway "
                f"must not put authorizer {kind!r} in front of it"
            )

    return validate


def all_rules(services: Sequence[ServiceSpec]) -> dict[str, tuple[str, Validator]]:
    """Policy name -> (description, validator): what the pack enforces."""
    return {
        "bucket-encrypted": ("Every bucket is encrypted with SSE-KMS", bucket_encrypted),
        "bucket-private": ("No bucket is or can become public", bucket_private),
        "table-pitr": ("Every table has PITR and KMS encryption", table_recoverable),
        "role-least-privilege": (
            "Roles have no wildcard actions and reach only their service's tables",
            role_policy_least_privilege(services),
        ),
        "log-retention": ("Every log group has retention", log_group_retained),
        "async-dead-letter-queue": (
            "Every async target has a dead-letter queue",
            async_target_has_dead_letter_queue,
        ),
        "route-authorizer": (
            "Every route is behind the authorizer its service declares",
            routes_behind_right_authorizer(services),
        ),
        "tags-everywhere": ("Every taggable resource carries the stack's tags", tagged),
    }


def violations(
    rules: Mapping[str, tuple[str, Validator]], resources: Iterable[ValidationArgs]
) -> list[tuple[str, str]]:
    """Run every rule over every resource; (policy name, message) for each violation."""
    found: list[tuple[str, str]] = []
    for resource in resources:
        for name, (_, validate) in rules.items():

            def report(message: str, urn: str | None = None, *, policy: str = name) -> None:
                found.append((policy, message))

            validate(resource, report)
    return found
