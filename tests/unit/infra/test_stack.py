"""The program under mocks: every component, and the resources each declares, as configured."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest

from control_plane.common.settings import Environment, ServiceSettings
from control_plane.common.tables import KeyAttribute, TableSpec, physical_table_name
from control_plane.services import RouteAuth, RoutePrefix, ScheduledJob, ServiceSpec, all_services
from infra.config import load_stack_config
from infra.errors import RegistryError
from infra.stack import StackSecrets, build_control_plane
from lab.pulumi_mocks import DeclaredResource, RecordingMocks, ResourceGraph, run_program
from tests.unit.infra.harness import (
    GADGETS,
    GEARS,
    TEST_SERVICES,
    WIDGETS,
    dev_config,
    run_stack,
)

PREFIX = "edgefill-dev"


@pytest.fixture(scope="module")
def graph() -> ResourceGraph:
    return run_stack(services=(*all_services(), *TEST_SERVICES))


def one(graph: ResourceGraph, typ: str, **match: Any) -> DeclaredResource:
    found = [
        r
        for r in graph.of_type(typ)
        if all(r.inputs.get(key) == value for key, value in match.items())
    ]
    assert len(found) == 1, f"{len(found)} {typ} match {match}"
    return found[0]


def statements(document: str) -> dict[str, Mapping[str, Any]]:
    return {s["Sid"]: s for s in json.loads(document)["Statement"]}


def test_every_component_is_built(graph: ResourceGraph) -> None:
    components = sorted(r.type for r in graph.resources if not r.custom)
    services = (*all_services(), *TEST_SERVICES)
    assert components.count("edgefill:index:LambdaService") == len(services)
    assert components.count("edgefill:index:PrivateBucket") == 2
    for token in (
        "SharedBase",
        "ServiceSecrets",
        "OriginStorage",
        "SubscriberDirectory",
        "HttpApi",
        "Monitoring",
    ):
        assert components.count(f"edgefill:index:{token}") == 1, token


def test_shared_key_rotates_and_lets_logs_use_it(graph: ResourceGraph) -> None:
    key = one(graph, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    policy = statements(key.inputs["policy"])
    assert policy["LogGroupsOfThisStack"]["Principal"] == {
        "Service": "logs.eu-west-1.amazonaws.com"
    }
    assert "123456789012" in policy["AccountAdministers"]["Principal"]["AWS"]
    topic = one(graph, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["keyId"]
    mail = one(graph, "aws:sns/topicSubscription:TopicSubscription")
    assert (mail.inputs["protocol"], mail.inputs["endpoint"]) == ("email", "ops@example.com")


@pytest.mark.parametrize("kind", ["origin", "manifests"])
def test_buckets_are_private_versioned_encrypted_and_tls_only(
    graph: ResourceGraph, kind: str
) -> None:
    bucket = one(graph, "aws:s3/bucket:Bucket", bucket=f"{PREFIX}-{kind}-123456789012-eu-west-1")
    name = bucket.outputs["bucket"]
    versioning = one(graph, "aws:s3/bucketVersioning:BucketVersioning", bucket=name)
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = one(
        graph,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        bucket=name,
    )
    default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert default["kmsMasterKeyId"] == one(graph, "aws:kms/key:Key").outputs["arn"]
    block = one(graph, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket=name)
    assert all(
        block.inputs[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    policy = json.loads(
        one(graph, "aws:s3/bucketPolicy:BucketPolicy", bucket=name).inputs["policy"]
    )
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    lifecycle = one(
        graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket=name
    )
    assert (
        lifecycle.inputs["rules"][0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    )


def test_tables_follow_their_specs(graph: ResourceGraph) -> None:
    table = one(graph, "aws:dynamodb/table:Table", name=physical_table_name(PREFIX, "widgets"))
    inputs = table.inputs
    assert (inputs["billingMode"], inputs["hashKey"], inputs["rangeKey"]) == (
        "PAY_PER_REQUEST",
        "widget_id",
        "version",
    )
    assert {a["name"]: a["type"] for a in inputs["attributes"]} == {
        "widget_id": "S",
        "version": "N",
        "owner": "S",
    }
    [index] = inputs["globalSecondaryIndexes"]
    assert index["name"] == "by-owner" and index["keySchemas"] == [
        {"attributeName": "owner", "keyType": "HASH"}
    ]
    assert inputs["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert inputs["serverSideEncryption"]["enabled"] is True
    assert inputs["tags"]["edgefill:service"] == "widgets"


def test_every_registered_table_is_created_once(graph: ResourceGraph) -> None:
    names = sorted(r.inputs["name"] for r in graph.of_type("aws:dynamodb/table:Table"))
    expected = sorted(
        physical_table_name(PREFIX, t.name)
        for s in (*all_services(), *TEST_SERVICES)
        for t in s.tables
    )
    assert names == expected


def test_physical_table_names_match_the_services_settings() -> None:
    settings = ServiceSettings(environment=Environment.DEVELOPMENT, name_prefix=PREFIX)
    assert physical_table_name(PREFIX, "widgets") == settings.table_name("widgets")


def test_functions_are_arm64_with_config_but_no_secrets_in_env(graph: ResourceGraph) -> None:
    http = one(graph, "aws:lambda/function:Function", name=f"{PREFIX}-widgets")
    jobs = one(graph, "aws:lambda/function:Function", name=f"{PREFIX}-widgets-jobs")
    assert http.inputs["architectures"] == ["arm64"] and http.inputs["runtime"] == "python3.11"
    assert (http.inputs["handler"], jobs.inputs["handler"]) == (
        "control_plane.lambda_entry.handler",
        "control_plane.lambda_entry.run_job",
    )
    assert (http.inputs["timeout"], jobs.inputs["timeout"]) == (15, 300)
    env = http.inputs["environment"]["variables"]
    assert env["EDGEFILL_SERVICE"] == "widgets"
    assert env["EDGEFILL_NAME_PREFIX"] == PREFIX
    service_secret = one(
        graph, "aws:secretsmanager/secret:Secret", name=f"{PREFIX}/service-secrets"
    )
    assert env["EDGEFILL_SECRETS_ARN"] == service_secret.outputs["arn"]
    assert "EDGEFILL_PAYMENT_SECRET_ARN" not in env, "only billing reads the payment secret"
    assert json.loads(env["EDGEFILL_PLAN_CATALOGUE"])[0]["id"] == "basic"
    assert env["EDGEFILL_FLEET_VIEW_TTL_S"] == "30"  # the default of edgefill:sizes
    assert http.inputs["deadLetterConfig"]["targetArn"].endswith(f":{PREFIX}-widgets-dlq")
    # The generated secrets live in Secrets Manager only, never in a function or an export.
    generated = [
        r.outputs["result"] for r in graph.of_type("random:index/randomPassword:RandomPassword")
    ]
    assert len(generated) == 3  # URL-signing secret, admin token, session secret
    everything_visible = json.dumps(
        [f.inputs for f in graph.of_type("aws:lambda/function:Function")], default=str
    ) + json.dumps(graph.exports)
    assert not any(secret in everything_visible for secret in generated)
    version = one(graph, "aws:secretsmanager/secretVersion:SecretVersion")
    assert sorted(json.loads(version.inputs["secretString"]).values()) == sorted(generated)
    assert "secretString" in version.secret_inputs  # encrypted in the state, not plaintext


def test_roles_are_scoped_to_their_own_resources(graph: ResourceGraph) -> None:
    widgets = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-widgets-access").inputs["policy"]
    )
    table_arn = f"arn:aws:dynamodb:eu-west-1:123456789012:table/{PREFIX}-widgets"
    assert widgets["OwnTables"]["Resource"] == [table_arn, f"{table_arn}/index/*"]
    assert "ReadOtherServicesTables" not in widgets
    assert {"ReadOrigin", "WriteManifests", "ManageSubscribers"} <= set(widgets)
    gadgets = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-gadgets-access").inputs["policy"]
    )
    assert gadgets["ReadOtherServicesTables"]["Resource"] == [table_arn, f"{table_arn}/index/*"]
    assert not any(
        a.endswith(("PutItem", "DeleteItem")) for a in gadgets["ReadOtherServicesTables"]["Action"]
    )
    assert not {"ReadOrigin", "WriteManifests", "ManageSubscribers"} & set(gadgets)
    # PutMetricData cannot name a resource: the namespace condition is what scopes it.
    assert widgets["PublishOwnMetrics"]["Action"] == ["cloudwatch:PutMetricData"]
    assert widgets["PublishOwnMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": ["Edgefill/Widgets"]}
    }
    assert "PublishOwnMetrics" not in gadgets
    sprockets = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-sprockets-access").inputs["policy"]
    )
    assert sprockets["OwnTables"]["Resource"] == [table_arn, f"{table_arn}/index/*"]
    assert "dynamodb:PutItem" in sprockets["OwnTables"]["Action"]


def test_billing_reads_the_payment_secret_whose_value_pulumi_never_sets(
    graph: ResourceGraph,
) -> None:
    secret = one(graph, "aws:secretsmanager/secret:Secret", name=f"{PREFIX}/payment")
    assert "kmsKeyId" in secret.inputs
    versions = graph.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert all(v.inputs["secretId"] != secret.id for v in versions), "the operator puts it"
    assert graph.exports["payment_secret_arn"] == secret.outputs["arn"]
    billing = one(graph, "aws:lambda/function:Function", name=f"{PREFIX}-billing")
    env = billing.inputs["environment"]["variables"]
    assert env["EDGEFILL_PAYMENT_SECRET_ARN"] == secret.outputs["arn"]
    granted = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-billing-access").inputs["policy"]
    )
    assert granted["ReadPaymentSecret"]["Resource"] == [secret.outputs["arn"]]
    for other in ("playback", "fleet", "widgets"):
        policy = one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-{other}-access")
        assert "ReadPaymentSecret" not in statements(policy.inputs["policy"]), other


def test_reading_manifests_grants_reads_only() -> None:
    readers = ServiceSpec(
        name="readers",
        app_factory="tests.unit.infra.harness:widgets_app",
        routes=(RoutePrefix(prefix="/readers", auth=RouteAuth.PUBLIC),),
        reads_manifests=True,
    )
    graph = run_stack(services=(*TEST_SERVICES, readers))
    granted = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-readers-access").inputs["policy"]
    )
    assert granted["ReadManifests"]["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert "WriteManifests" not in granted


def test_the_steering_snapshot_grants_only_its_prefix() -> None:
    writer = ServiceSpec(
        name="compilers",
        jobs=(ScheduledJob(name="compile", function="m:f", schedule="rate(1 minute)"),),
        writes_steering_snapshot=True,
    )
    reader = ServiceSpec(
        name="steerers",
        app_factory="tests.unit.infra.harness:widgets_app",
        routes=(RoutePrefix(prefix="/steerers", auth=RouteAuth.PUBLIC),),
        reads_steering_snapshot=True,
    )
    graph = run_stack(services=(*TEST_SERVICES, writer, reader))

    def policy(name: str) -> dict[str, Mapping[str, Any]]:
        return statements(
            one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-{name}-access").inputs["policy"]
        )

    writes, reads = policy("compilers"), policy("steerers")
    bucket = writes["ListSteeringSnapshot"]["Resource"][0]
    assert writes["WriteSteeringSnapshot"]["Resource"] == [f"{bucket}/steering/*"]
    assert "s3:PutObject" in writes["WriteSteeringSnapshot"]["Action"]
    assert reads["ReadSteeringSnapshot"] == {
        "Sid": "ReadSteeringSnapshot",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"{bucket}/steering/*"],
    }
    for granted in (writes, reads):
        assert granted["ListSteeringSnapshot"]["Condition"] == {
            "StringLike": {"s3:prefix": ["steering/*"]}
        }
        assert not {"ReadManifests", "WriteManifests"} & set(granted), "not the whole bucket"


def test_routes_use_the_authorizer_their_service_declares(graph: ResourceGraph) -> None:
    authorizer = one(graph, "aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer.inputs["authorizerType"] == "JWT"
    pool_id = graph.exports["user_pool_id"]
    assert authorizer.inputs["jwtConfiguration"] == {
        "issuer": f"https://cognito-idp.eu-west-1.amazonaws.com/{pool_id}",
        "audiences": [graph.exports["user_pool_client_id"]],
    }
    subscriber = one(graph, "aws:apigatewayv2/route:Route", routeKey="ANY /widgets/v1/{proxy+}")
    assert subscriber.inputs["authorizationType"] == "JWT"
    assert subscriber.inputs["authorizerId"] == authorizer.id
    admin = one(graph, "aws:apigatewayv2/route:Route", routeKey="ANY /widgets/admin")
    assert admin.inputs["authorizationType"] == "NONE" and "authorizerId" not in admin.inputs
    integration = one(
        graph,
        "aws:apigatewayv2/integration:Integration",
        integrationUri=(
            "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:eu-west-1:123456789012:function:{PREFIX}-gadgets/invocations"
        ),
    )
    assert integration.inputs["payloadFormatVersion"] == "2.0"


def test_stage_throttles_and_logs_access(graph: ResourceGraph) -> None:
    stage = one(graph, "aws:apigatewayv2/stage:Stage")
    settings = stage.inputs["defaultRouteSettings"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (200.0, 400.0)
    log_format = json.loads(stage.inputs["accessLogSettings"]["format"])
    assert "authorization" not in json.dumps(log_format).lower().replace("authorizer", "")
    log_group = one(graph, "aws:cloudwatch/logGroup:LogGroup", name=f"/aws/apigateway/{PREFIX}-api")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == log_group.outputs["arn"]


def test_user_pool_follows_the_configured_sizes(graph: ResourceGraph) -> None:
    pool = one(graph, "aws:cognito/userPool:UserPool")
    assert pool.inputs["passwordPolicy"]["minimumLength"] == 12
    assert pool.inputs["usernameAttributes"] == ["email"]
    client = one(graph, "aws:cognito/userPoolClient:UserPoolClient")
    assert (client.inputs["accessTokenValidity"], client.inputs["refreshTokenValidity"]) == (60, 30)
    assert client.inputs["generateSecret"] is False
    assert client.inputs["tokenValidityUnits"]["refreshToken"] == "days"


def test_jobs_are_scheduled_with_a_dead_letter_queue(graph: ResourceGraph) -> None:
    rule = one(graph, "aws:cloudwatch/eventRule:EventRule", name=f"{PREFIX}-widgets-nightly")
    assert rule.inputs["scheduleExpression"] == "cron(0 1 * * ? *)"
    target = one(graph, "aws:cloudwatch/eventTarget:EventTarget", rule=rule.outputs["name"])
    assert json.loads(target.inputs["input"]) == {"job": "nightly"}
    assert target.inputs["arn"].endswith(f"function:{PREFIX}-widgets-jobs")
    assert target.inputs["deadLetterConfig"]["arn"].endswith(f"{PREFIX}-widgets-dlq")
    dlq_url = one(graph, "aws:sqs/queue:Queue", name=f"{PREFIX}-widgets-dlq").outputs["url"]
    queue_policy = json.loads(
        one(graph, "aws:sqs/queuePolicy:QueuePolicy", queueUrl=dlq_url).inputs["policy"]
    )
    grant = queue_policy["Statement"][0]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnEquals"]["aws:SourceArn"] == [rule.outputs["arn"]]


def test_a_fan_out_is_a_queue_feeding_a_worker_one_message_at_a_time(
    graph: ResourceGraph,
) -> None:
    queue = one(graph, "aws:sqs/queue:Queue", name=f"{PREFIX}-gears-teeth")
    dlq = one(graph, "aws:sqs/queue:Queue", name=f"{PREFIX}-gears-dlq")
    assert json.loads(queue.inputs["redrivePolicy"]) == {
        "deadLetterTargetArn": dlq.outputs["arn"],
        "maxReceiveCount": 3,
    }
    assert queue.inputs["maxMessageSize"] == 256 * 1024
    assert "kmsMasterKeyId" in queue.inputs
    worker = one(graph, "aws:lambda/function:Function", name=f"{PREFIX}-gears-teeth")
    assert worker.inputs["handler"] == "control_plane.lambda_entry.run_fan_out"
    assert queue.inputs["visibilityTimeoutSeconds"] >= worker.inputs["timeout"]
    source = one(
        graph,
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        eventSourceArn=queue.outputs["arn"],
    )
    assert source.inputs["eventSourceArn"] == queue.outputs["arn"]
    assert source.inputs["functionName"] == worker.outputs["arn"]
    assert source.inputs["batchSize"] == 1
    assert source.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    # The job that plans sends to the queue; both read the queue's URL from their settings.
    jobs = one(graph, "aws:lambda/function:Function", name=f"{PREFIX}-gears-jobs")
    for function in (jobs, worker):
        variables = function.inputs["environment"]["variables"]
        assert json.loads(variables["EDGEFILL_FAN_OUT_QUEUES"]) == {"teeth": queue.outputs["url"]}
    granted = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-gears-access").inputs["policy"]
    )
    assert granted["UseOwnFanOutQueues"]["Resource"] == [queue.outputs["arn"]]
    assert "sqs:SendMessage" in granted["UseOwnFanOutQueues"]["Action"]
    widgets = statements(
        one(graph, "aws:iam/policy:Policy", name=f"{PREFIX}-widgets-access").inputs["policy"]
    )
    assert "UseOwnFanOutQueues" not in widgets


def test_a_jobs_only_service_gets_a_job_function_and_no_http_function(
    graph: ResourceGraph,
) -> None:
    names = {f.inputs["name"] for f in graph.of_type("aws:lambda/function:Function")}
    assert f"{PREFIX}-gears-jobs" in names and f"{PREFIX}-gears" not in names
    rule = one(graph, "aws:cloudwatch/eventRule:EventRule", name=f"{PREFIX}-gears-turn")
    target = one(graph, "aws:cloudwatch/eventTarget:EventTarget", rule=rule.outputs["name"])
    assert target.inputs["arn"].endswith(f"function:{PREFIX}-gears-jobs")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"routes": (RoutePrefix(prefix="/x", auth=RouteAuth.PUBLIC),)}, "routes need an app"),
        ({}, "at least one job"),
    ],
)
def test_a_service_without_an_app_must_run_jobs_and_serve_no_routes(
    fields: dict[str, object], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        ServiceSpec(name="nothing", **fields)


def test_a_jobs_only_service_has_no_app_to_create() -> None:
    with pytest.raises(ValueError, match="runs jobs only"):
        GEARS.create_app(ServiceSettings(environment=Environment.DEVELOPMENT))


def test_alarms_cover_errors_throttles_dlq_depth_and_stale_fleet(graph: ResourceGraph) -> None:
    alarms = {
        r.inputs["name"]: r.inputs for r in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    for function in (f"{PREFIX}-widgets", f"{PREFIX}-widgets-jobs", f"{PREFIX}-gadgets"):
        assert alarms[f"{function}-errors"]["metricName"] == "Errors"
        assert alarms[f"{function}-throttles"]["dimensions"] == {"FunctionName": function}
    assert alarms[f"{PREFIX}-gadgets-dlq-depth"]["dimensions"] == {
        "QueueName": f"{PREFIX}-gadgets-dlq"
    }
    assert alarms[f"{PREFIX}-stale-fleet"]["evaluationPeriods"] == 3
    topic = one(graph, "aws:sns/topic:Topic").outputs["arn"]
    assert all(alarm["alarmActions"] == [topic] for alarm in alarms.values())


def test_dashboard_shows_every_function_and_queue(graph: ResourceGraph) -> None:
    body = one(graph, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    for name in (f"{PREFIX}-widgets", f"{PREFIX}-widgets-jobs", f"{PREFIX}-gadgets-dlq"):
        assert f'"{name}"' in body


def test_exports_give_ansible_and_the_agent_what_they_need(graph: ResourceGraph) -> None:
    exports = graph.exports
    assert exports["api_url"].startswith("https://") and exports["api_url"].endswith(
        ".execute-api.eu-west-1.amazonaws.com"
    )
    assert exports["fleet_api_url"] == exports["api_url"] + "/fleet/v1"
    assert exports["origin_bucket"] == f"{PREFIX}-origin-123456789012-eu-west-1"
    assert exports["user_pool_id"].startswith("eu-west-1_")
    assert exports["table_names"]["gadgets"] == f"{PREFIX}-gadgets"
    assert exports["function_names"]["widgets"] == f"{PREFIX}-widgets"


def test_custom_domain_is_mapped_and_becomes_the_api_url() -> None:
    config = dev_config(
        **{
            "edgefill:customDomain": json.dumps(
                {
                    "domainName": "api.example.com",
                    "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
                }
            )
        }
    )
    graph = run_stack(config=config)
    domain = one(graph, "aws:apigatewayv2/domainName:DomainName")
    assert domain.inputs["domainNameConfiguration"]["securityPolicy"] == "TLS_1_2"
    assert (
        one(graph, "aws:apigatewayv2/apiMapping:ApiMapping").inputs["domainName"]
        == "api.example.com"
    )
    assert graph.exports["api_url"] == "https://api.example.com"


def test_configured_secrets_replace_the_generated_ones() -> None:
    config = dev_config(
        **{
            "edgefill:urlSigningSecret": "operator-signing-secret-0123456789",
            "edgefill:adminToken": "operator-admin-token-0123456789",
        }
    )

    def program() -> Mapping[str, object]:
        secrets = pulumi.Config("edgefill")
        plane = build_control_plane(
            config=load_stack_config(),
            services=TEST_SERVICES,
            archive_path="/nonexistent.zip",
            secrets=StackSecrets(
                url_signing_secret=secrets.get_secret("urlSigningSecret"),
                admin_token=secrets.get_secret("adminToken"),
            ),
        )
        return plane.outputs()

    graph = run_program(
        program,
        mocks=RecordingMocks(region="eu-west-1"),
        config=config,
        secret_keys=["edgefill:urlSigningSecret", "edgefill:adminToken"],
    )
    # Only the playback session secret is generated: it never leaves the control plane.
    generated = graph.of_type("random:index/randomPassword:RandomPassword")
    assert len(generated) == 1 and "session-secret" in generated[0].name
    version = one(graph, "aws:secretsmanager/secretVersion:SecretVersion")
    assert "secretString" in version.secret_inputs
    stored = json.loads(version.inputs["secretString"])
    assert stored.pop("session_secret")
    assert stored == {
        "url_signing_secret": "operator-signing-secret-0123456789",
        "admin_token": "operator-admin-token-0123456789",
    }
    assert "operator-" not in json.dumps(graph.exports)


def _spec(name: str, **fields: Any) -> ServiceSpec:
    return ServiceSpec(name=name, app_factory="tests.unit.infra.harness:no_app", **fields)


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ((WIDGETS, WIDGETS), "two services are named 'widgets'"),
        (
            (
                WIDGETS,
                _spec(
                    "copy", tables=(TableSpec(name="widgets", hash_key=KeyAttribute(name="id")),)
                ),
            ),
            "table 'widgets' is declared twice",
        ),
        (
            (
                WIDGETS,
                _spec("clash", routes=(RoutePrefix(prefix="/widgets/v1", auth=RouteAuth.PUBLIC),)),
            ),
            "route 'ANY /widgets/v1' is claimed by 'widgets' and 'clash'",
        ),
        ((GADGETS,), "reads or writes tables ['widgets'] that no service declares"),
    ],
)
def test_an_inconsistent_registry_is_refused(
    services: tuple[ServiceSpec, ...], message: str
) -> None:
    with pytest.raises(RegistryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_stack(services=services)


@pytest.mark.parametrize(("protect", "expected"), [("true", True), ("false", False)])
def test_protect_data_guards_tables_pool_and_buckets(protect: str, expected: bool) -> None:
    graph = run_stack(config=dev_config(**{"edgefill:protectData": protect}))
    tables = graph.of_type("aws:dynamodb/table:Table")
    assert tables and all(t.inputs["deletionProtectionEnabled"] is expected for t in tables)
    pool = one(graph, "aws:cognito/userPool:UserPool")
    assert pool.inputs["deletionProtection"] == ("ACTIVE" if expected else "INACTIVE")
    buckets = graph.of_type("aws:s3/bucket:Bucket")
    assert len(buckets) == 2 and all(b.inputs["forceDestroy"] is not expected for b in buckets)
