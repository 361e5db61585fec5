"""The policy pack's rules over the mocked stack: it passes, and each broken resource fails."""

from __future__ import annotations

import copy
import json
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

import infra.policy
from control_plane.services import all_services
from infra.policy.rules import all_rules, violations
from lab.pulumi_mocks import DeclaredResource, ResourceGraph
from tests.unit.infra.harness import TEST_SERVICES, run_stack

SERVICES = (*all_services(), *TEST_SERVICES)


def validation_args(resource: DeclaredResource) -> ResourceValidationArgs:
    """The same argument object the policy engine passes, built from a mocked resource."""
    return ResourceValidationArgs(
        resource_type=resource.type,
        props=resource.inputs,
        urn=f"urn:pulumi:dev::edgefill::{resource.type}::{resource.name}",
        name=resource.name,
        opts=PolicyResourceOptions(
            protect=False,
            ignore_changes=[],
            delete_before_replace=None,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
        ),
        provider=None,
    )


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return run_stack(services=SERVICES)


def test_the_stack_meets_every_rule(graph: ResourceGraph) -> None:
    found = violations(all_rules(SERVICES), [validation_args(r) for r in graph.resources])
    assert found == []
    # The rules saw the resources they are about (not an empty or foreign graph).
    assert len(graph.of_type("aws:apigatewayv2/route:Route")) >= 4


def _first(graph: ResourceGraph, typ: str, name_part: str = "") -> DeclaredResource:
    return next(r for r in graph.of_type(typ) if name_part in r.name)


def _with(resource: DeclaredResource, change: Callable[[dict[str, Any]], None]) -> DeclaredResource:
    inputs = copy.deepcopy(dict(resource.inputs))
    change(inputs)
    return DeclaredResource(
        type=resource.type,
        name=f"broken-{resource.name}",
        id=resource.id,
        inputs=inputs,
        outputs=resource.outputs,
        custom=True,
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target: Any = inputs
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[leaf] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda inputs: inputs.pop(key, None)


def _policy(mutate: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(inputs: dict[str, Any]) -> None:
        document = json.loads(inputs["policy"])
        mutate(document)
        inputs["policy"] = json.dumps(document)

    return change


def _add_statement(statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return _policy(lambda document: document["Statement"].append(statement))


_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
_OTHER_TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/edgefill-dev-billing-secrets"

BROKEN = [
    (
        "bucket-encrypted",
        _SSE,
        "",
        _set("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
        "aws:kms",
    ),
    ("bucket-encrypted", _SSE, "", _set("rules", []), "aws:kms"),
    (
        "bucket-private",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "",
        _set("restrictPublicBuckets", False),
        "restrictPublicBuckets",
    ),
    ("bucket-private", "aws:s3/bucket:Bucket", "origin", _set("acl", "public-read"), "not private"),
    (
        "bucket-private",
        "aws:s3/bucketPolicy:BucketPolicy",
        "",
        _add_statement(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::x/*",
            }
        ),
        "allows anyone",
    ),
    (
        "table-pitr",
        "aws:dynamodb/table:Table",
        "widgets",
        _set("pointInTimeRecovery", {"enabled": False}),
        "point-in-time recovery",
    ),
    (
        "table-pitr",
        "aws:dynamodb/table:Table",
        "widgets",
        _drop("serverSideEncryption"),
        "not encrypted",
    ),
    (
        "role-least-privilege",
        "aws:iam/policy:Policy",
        "widgets",
        _add_statement({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::x"}),
        "wildcard action",
    ),
    (
        "role-least-privilege",
        "aws:iam/policy:Policy",
        "widgets",
        _add_statement({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}),
        "Resource '*'",
    ),
    (
        "role-least-privilege",
        "aws:iam/policy:Policy",
        "widgets",
        _add_statement(
            {
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData", "sqs:SendMessage"],
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": ["Edgefill/Fleet"]}},
            }
        ),
        "Resource '*'",
    ),
    # PutMetricData may use Resource '*' only with an exact condition on the service's own
    # namespaces: none, a wildcard, a negation, a Null test or another namespace all fail.
    *(
        (
            "role-least-privilege",
            "aws:iam/policy:Policy",
            "widgets",
            _add_statement(
                {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}
                | ({"Condition": condition} if condition is not None else {})
            ),
            "Resource '*'",
        )
        for condition in (
            None,
            {"StringLike": {"cloudwatch:namespace": "*"}},
            {"StringEquals": {"cloudwatch:namespace": ["Edgefill/*"]}},
            {"StringNotEquals": {"cloudwatch:namespace": "AWS/EC2"}},
            {"Null": {"cloudwatch:namespace": "false"}},
            {"StringEquals": {"cloudwatch:namespace": ["AWS/EC2"]}},
        )
    ),
    (
        "role-least-privilege",
        "aws:iam/policy:Policy",
        "gadgets",
        _add_statement({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": _OTHER_TABLE}),
        "neither owns nor lists",
    ),
    (
        "role-least-privilege",
        "aws:iam/policy:Policy",
        "gadgets",
        _set("tags", {"edgefill:stack": "edgefill-dev"}),
        "cannot be checked",
    ),
    ("log-retention", "aws:cloudwatch/logGroup:LogGroup", "", _drop("retentionInDays"), "forever"),
    (
        "async-dead-letter-queue",
        "aws:lambda/function:Function",
        "jobs",
        _drop("deadLetterConfig"),
        "no dead-letter queue",
    ),
    (
        "async-dead-letter-queue",
        "aws:cloudwatch/eventTarget:EventTarget",
        "",
        _drop("deadLetterConfig"),
        "no dead-letter queue",
    ),
    (
        "route-authorizer",
        "aws:apigatewayv2/route:Route",
        "widgets-v1-proxy",
        _set("authorizationType", "NONE"),
        "must use the JWT authorizer",
    ),
    (
        "route-authorizer",
        "aws:apigatewayv2/route:Route",
        "widgets-admin",
        _set("authorizationType", "JWT"),
        "must not put authorizer",
    ),
    (
        "route-authorizer",
        "aws:apigatewayv2/route:Route",
        "gadgets",
        _set("routeKey", "ANY /secret/{proxy+}"),
        "not declared by any service",
    ),
    (
        "tags-everywhere",
        "aws:sqs/queue:Queue",
        "",
        _set("tags", {"project": "edgefill"}),
        "not tagged",
    ),
    ("tags-everywhere", "aws:kms/key:Key", "", _drop("tags"), "not tagged"),
]


@pytest.mark.parametrize(
    ("rule", "typ", "name_part", "change", "message"),
    BROKEN,
    ids=[f"{rule}-{typ.split(':')[-1]}-{message}" for rule, typ, *_, message in BROKEN],
)
def test_a_broken_resource_fails_its_rule(
    graph: ResourceGraph,
    rule: str,
    typ: str,
    name_part: str,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    original = _first(graph, typ, name_part)
    broken = _with(original, change)
    rules = all_rules(SERVICES)
    assert violations(rules, [validation_args(original)]) == []
    found = violations(rules, [validation_args(broken)])
    assert found, "the broken resource passed"
    assert {name for name, _ in found} == {rule}
    assert all(message in text and broken.name in text for _, text in found)


def test_every_rule_has_a_broken_fixture() -> None:
    assert {rule for rule, *_ in BROKEN} == set(all_rules(SERVICES))


def test_the_pack_enforces_every_rule_as_a_mandatory_resource_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    packs: list[dict[str, Any]] = []
    # PolicyPack would start the engine's gRPC server and block; capture what the pack declares.
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: packs.append(kwargs))
    runpy.run_path(str(Path(infra.policy.__file__).parent / "__main__.py"), run_name="__main__")
    [pack] = packs
    assert pack["enforcement_level"] is pulumi_policy.EnforcementLevel.MANDATORY
    policies = {policy.name: policy for policy in pack["policies"]}
    assert set(policies) == set(all_rules(all_services()))
    assert all(isinstance(p, pulumi_policy.ResourceValidationPolicy) for p in policies.values())
