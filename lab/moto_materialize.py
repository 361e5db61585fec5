"""Materialize the Pulumi program in moto: the tables, buckets, queues, user pool, client and
secret that `pulumi up` would create, built from the program's own resource inputs.

`MotoMaterializer` is a Pulumi mocks implementation: while the real program runs under it,
every data-plane resource is created in moto with the exact inputs the program declares (keys,
GSIs, TTL, PITR, encryption, versioning, public-access block, password policy...), and moto's
ids and ARNs flow back into the program as outputs. Compute and routing (Lambda, API Gateway,
EventBridge, alarms) stay synthesized: moto cannot run them without Docker, and the lab runs
the same apps under uvicorn instead. One deliberate difference: the buckets' TLS-only deny is
not applied, because moto enforces bucket policies and listens on plain HTTP.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from control_plane.services import ServiceSpec
from infra.config import PROJECT, load_stack_config
from infra.errors import MaterializeError
from infra.stack import build_control_plane
from lab.pulumi_mocks import (
    ACCOUNT_ID,
    RecordingMocks,
    ResourceGraph,
    run_program,
    stack_config_from_yaml,
)

logger = logging.getLogger(__name__)

DEV_STACK_FILE = Path(__file__).resolve().parent.parent / "Pulumi.dev.yaml"
# Lambda functions are not created in moto, so no archive is needed to materialize.
UNBUILT_ARCHIVE = "lambda-archive-not-built-for-moto.zip"

Created = tuple[str, dict[str, Any]]
# moto is on loopback: fail fast instead of retrying into a test's timeout.
_BOTO_CONFIG = Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 2})


def _tags(inputs: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (inputs.get("tags") or {}).items()]


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    return statement.get("Effect") == "Deny" and "aws:SecureTransport" in condition.get("Bool", {})


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


class MotoMaterializer(RecordingMocks):
    """Records the graph like RecordingMocks and creates the data resources in moto."""

    def __init__(self, *, endpoint_url: str, region: str, account_id: str = ACCOUNT_ID) -> None:
        super().__init__(region=region, account_id=account_id)
        self.endpoint_url = endpoint_url
        session = boto3.session.Session(region_name=region)
        options: dict[str, Any] = {"endpoint_url": endpoint_url, "config": _BOTO_CONFIG}
        # Untyped on purpose: the requests are built from Pulumi's untyped input dicts.
        self._kms: Any = session.client("kms", **options)
        self._s3: Any = session.client("s3", **options)
        self._dynamodb: Any = session.client("dynamodb", **options)
        self._sqs: Any = session.client("sqs", **options)
        self._cognito: Any = session.client("cognito-idp", **options)
        self._secrets: Any = session.client("secretsmanager", **options)
        # moto is not safe under concurrent writers; the engine registers from several threads.
        self._moto_lock = threading.Lock()
        self._creators: dict[str, Callable[[str, dict[str, Any]], Created | None]] = {
            "aws:kms/key:Key": self._key,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketVersioning:BucketVersioning": self._bucket_versioning,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": self._bucket_encryption,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._bucket_public_block,
            "aws:s3/bucketPolicy:BucketPolicy": self._bucket_policy,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": self._bucket_lifecycle,
            "aws:dynamodb/table:Table": self._table,
            "aws:sqs/queue:Queue": self._queue,
            "aws:sqs/queuePolicy:QueuePolicy": self._queue_policy,
            "aws:cognito/userPool:UserPool": self._user_pool,
            "aws:cognito/userPoolClient:UserPoolClient": self._user_pool_client,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
        }

    def creates(self, typ: str) -> bool:
        """Whether resources of this type are created in moto (others are only synthesized)."""
        return typ in self._creators

    def create(self, typ: str, name: str, inputs: dict[str, Any]) -> Created:
        physical_id, outputs = self.synthesize(typ, name, inputs)
        created = self.materialize(typ, name, inputs)
        if created is None:
            return physical_id, outputs
        real_id, real_outputs = created
        return real_id, {**outputs, **real_outputs}

    def materialize(self, typ: str, name: str, inputs: dict[str, Any]) -> Created | None:
        """Create one resource in moto from its Pulumi inputs; moto's id and outputs, if any."""
        creator = self._creators.get(typ)
        if creator is None:
            return None
        try:
            with self._moto_lock:
                return creator(name, inputs)
        except (ClientError, BotoCoreError) as exc:
            raise MaterializeError(
                f"moto refused {typ} {name!r}: {exc}; the program's inputs for it are "
                f"{sorted(inputs)} (is the moto server at {self.endpoint_url} up?)"
            ) from exc

    # -- KMS, S3 ---------------------------------------------------------------------------

    def _key(self, name: str, inputs: dict[str, Any]) -> Created:
        meta = self._kms.create_key(
            Description=inputs.get("description", name),
            Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(inputs)],
        )["KeyMetadata"]
        if inputs.get("enableKeyRotation"):
            self._kms.enable_key_rotation(KeyId=meta["KeyId"])
        return meta["KeyId"], {"keyId": meta["KeyId"], "arn": meta["Arn"]}

    def _bucket(self, name: str, inputs: dict[str, Any]) -> Created:
        bucket = inputs["bucket"]
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self._s3.create_bucket(**kwargs)
        if inputs.get("tags"):
            self._s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tags(inputs)})
        return bucket, {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}

    def _bucket_versioning(self, name: str, inputs: dict[str, Any]) -> None:
        status = inputs["versioningConfiguration"]["status"]
        self._s3.put_bucket_versioning(
            Bucket=inputs["bucket"], VersioningConfiguration={"Status": status}
        )

    def _bucket_encryption(self, name: str, inputs: dict[str, Any]) -> None:
        rules = []
        for rule in inputs["rules"]:
            default = rule["applyServerSideEncryptionByDefault"]
            rules.append(
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": default["sseAlgorithm"],
                        "KMSMasterKeyID": default["kmsMasterKeyId"],
                    },
                    "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled")),
                }
            )
        self._s3.put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )

    def _bucket_public_block(self, name: str, inputs: dict[str, Any]) -> None:
        flags = (
            "blockPublicAcls",
            "ignorePublicAcls",
            "blockPublicPolicy",
            "restrictPublicBuckets",
        )
        self._s3.put_public_access_block(
            Bucket=inputs["bucket"],
            PublicAccessBlockConfiguration={
                flag[0].upper() + flag[1:]: bool(inputs.get(flag)) for flag in flags
            },
        )

    def _bucket_policy(self, name: str, inputs: dict[str, Any]) -> None:
        # moto enforces bucket policies and serves plain HTTP on loopback, so the TLS-only deny
        # would refuse every request; it is the one statement not carried over (the policy
        # tests check it on the program itself).
        policy = json.loads(inputs["policy"])
        kept = [s for s in policy.get("Statement", []) if not _denies_plain_http(s)]
        if kept:
            policy["Statement"] = kept
            self._s3.put_bucket_policy(Bucket=inputs["bucket"], Policy=json.dumps(policy))

    def _bucket_lifecycle(self, name: str, inputs: dict[str, Any]) -> None:
        rules = []
        for rule in inputs["rules"]:
            converted: dict[str, Any] = {
                "ID": rule["id"],
                "Status": rule["status"],
                "Filter": {"Prefix": (rule.get("filter") or {}).get("prefix", "")},
            }
            if "abortIncompleteMultipartUpload" in rule:
                days = rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
                converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
            if "noncurrentVersionExpiration" in rule:
                days = rule["noncurrentVersionExpiration"]["noncurrentDays"]
                converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(days)}
            rules.append(converted)
        self._s3.put_bucket_lifecycle_configuration(
            Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules}
        )

    # -- DynamoDB ----------------------------------------------------------------------------

    def _table(self, name: str, inputs: dict[str, Any]) -> Created:
        table_name = inputs["name"]
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": inputs["billingMode"],
            "KeySchema": _key_schema(inputs["hashKey"], inputs.get("rangeKey")),
            "AttributeDefinitions": [
                {"AttributeName": a["name"], "AttributeType": a["type"]}
                for a in inputs["attributes"]
            ],
            "Tags": _tags(inputs),
        }
        encryption = inputs.get("serverSideEncryption") or {}
        if encryption.get("enabled"):
            kwargs["SSESpecification"] = {
                "Enabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": encryption["kmsKeyArn"],
            }
        if inputs.get("globalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index["name"],
                    "KeySchema": [
                        {"AttributeName": k["attributeName"], "KeyType": k["keyType"]}
                        for k in index["keySchemas"]
                    ],
                    "Projection": {"ProjectionType": index["projectionType"]},
                }
                for index in inputs["globalSecondaryIndexes"]
            ]
        description = self._dynamodb.create_table(**kwargs)["TableDescription"]
        ttl = inputs.get("ttl") or {}
        if ttl.get("enabled"):
            self._dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]},
            )
        if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
            self._dynamodb.update_continuous_backups(
                TableName=table_name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        return table_name, {"arn": description["TableArn"], "name": table_name}

    # -- SQS, Cognito, Secrets Manager -------------------------------------------------------

    def _queue(self, name: str, inputs: dict[str, Any]) -> Created:
        attributes = {}
        if inputs.get("messageRetentionSeconds"):
            attributes["MessageRetentionPeriod"] = str(int(inputs["messageRetentionSeconds"]))
        if inputs.get("kmsMasterKeyId"):
            attributes["KmsMasterKeyId"] = inputs["kmsMasterKeyId"]
        if inputs.get("maxMessageSize"):
            attributes["MaximumMessageSize"] = str(int(inputs["maxMessageSize"]))
        if inputs.get("visibilityTimeoutSeconds"):
            attributes["VisibilityTimeout"] = str(int(inputs["visibilityTimeoutSeconds"]))
        if inputs.get("redrivePolicy"):
            attributes["RedrivePolicy"] = inputs["redrivePolicy"]
        url = self._sqs.create_queue(
            QueueName=inputs["name"], Attributes=attributes, tags=inputs.get("tags") or {}
        )["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, {"url": url, "arn": arn["Attributes"]["QueueArn"], "name": inputs["name"]}

    def _queue_policy(self, name: str, inputs: dict[str, Any]) -> None:
        self._sqs.set_queue_attributes(
            QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]}
        )

    def _user_pool(self, name: str, inputs: dict[str, Any]) -> Created:
        password = inputs["passwordPolicy"]
        pool = self._cognito.create_user_pool(
            PoolName=inputs["name"],
            UsernameAttributes=inputs.get("usernameAttributes", []),
            AutoVerifiedAttributes=inputs.get("autoVerifiedAttributes", []),
            MfaConfiguration=inputs.get("mfaConfiguration", "OFF"),
            DeletionProtection=inputs.get("deletionProtection", "INACTIVE"),
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": int(password["minimumLength"]),
                    "RequireUppercase": bool(password.get("requireUppercase")),
                    "RequireLowercase": bool(password.get("requireLowercase")),
                    "RequireNumbers": bool(password.get("requireNumbers")),
                    "RequireSymbols": bool(password.get("requireSymbols")),
                    "TemporaryPasswordValidityDays": int(
                        password.get("temporaryPasswordValidityDays", 7)
                    ),
                }
            },
            UserPoolTags=inputs.get("tags") or {},
        )["UserPool"]
        return pool["Id"], {"id": pool["Id"], "arn": pool["Arn"], "endpoint": pool["Id"]}

    def _user_pool_client(self, name: str, inputs: dict[str, Any]) -> Created:
        units = inputs.get("tokenValidityUnits") or {}
        client = self._cognito.create_user_pool_client(
            UserPoolId=inputs["userPoolId"],
            ClientName=inputs["name"],
            GenerateSecret=bool(inputs.get("generateSecret")),
            ExplicitAuthFlows=inputs.get("explicitAuthFlows", []),
            PreventUserExistenceErrors=inputs.get("preventUserExistenceErrors", "LEGACY"),
            EnableTokenRevocation=bool(inputs.get("enableTokenRevocation")),
            AccessTokenValidity=int(inputs["accessTokenValidity"]),
            IdTokenValidity=int(inputs["idTokenValidity"]),
            RefreshTokenValidity=int(inputs["refreshTokenValidity"]),
            TokenValidityUnits={
                "AccessToken": units.get("accessToken", "hours"),
                "IdToken": units.get("idToken", "hours"),
                "RefreshToken": units.get("refreshToken", "days"),
            },
        )["UserPoolClient"]
        return client["ClientId"], {"id": client["ClientId"]}

    def _secret(self, name: str, inputs: dict[str, Any]) -> Created:
        secret = self._secrets.create_secret(
            Name=inputs["name"],
            Description=inputs.get("description", ""),
            KmsKeyId=inputs["kmsKeyId"],
            Tags=_tags(inputs),
        )
        return secret["ARN"], {"arn": secret["ARN"], "name": secret["Name"]}

    def _secret_version(self, name: str, inputs: dict[str, Any]) -> Created:
        version = self._secrets.put_secret_value(
            SecretId=inputs["secretId"], SecretString=inputs["secretString"]
        )
        return version["VersionId"], {"versionId": version["VersionId"]}


@dataclass(frozen=True)
class MaterializedStack:
    """What a materialization created: the program's exports and its resource graph."""

    exports: Mapping[str, Any]
    graph: ResourceGraph


def _program(services: Sequence[ServiceSpec]) -> Callable[[], Mapping[str, Any]]:
    def program() -> Mapping[str, Any]:
        plane = build_control_plane(
            config=load_stack_config(), services=services, archive_path=UNBUILT_ARCHIVE
        )
        return plane.outputs()

    return program


def _config(config_file: Path, *, region: str, name_prefix: str) -> dict[str, str]:
    config = stack_config_from_yaml(config_file)
    config.update({"aws:region": region, f"{PROJECT}:namePrefix": name_prefix})
    return config


def materialize_stack(
    *,
    endpoint_url: str,
    name_prefix: str,
    region: str,
    services: Sequence[ServiceSpec],
    config_file: Path = DEV_STACK_FILE,
) -> MaterializedStack:
    """Run the Pulumi program against moto with `config_file`, prefix and region overridden."""
    mocks = MotoMaterializer(endpoint_url=endpoint_url, region=region)
    config = _config(config_file, region=region, name_prefix=name_prefix)
    graph = run_program(_program(services), mocks=mocks, config=config)
    logger.info("materialized stack %s in moto (%d resources)", name_prefix, len(graph.resources))
    return MaterializedStack(exports=dict(graph.exports), graph=graph)


# A prefix no real input contains, so replacing it cannot touch anything else.
BLUEPRINT_PREFIX = "zqblueprintzq"


@dataclass(frozen=True)
class Blueprint:
    """The program's resource graph for a placeholder prefix, recorded once, replayed often."""

    graph: ResourceGraph
    region: str


def record_blueprint(
    *, region: str, services: Sequence[ServiceSpec], config_file: Path = DEV_STACK_FILE
) -> Blueprint:
    """Run the program once under recording mocks (no moto), for `replay_blueprint`."""
    config = _config(config_file, region=region, name_prefix=BLUEPRINT_PREFIX)
    graph = run_program(_program(services), mocks=RecordingMocks(region=region), config=config)
    return Blueprint(graph=graph, region=region)


def _substitute(value: Any, replacements: Sequence[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {key: _substitute(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, replacements) for item in value]
    return value


def replay_blueprint(
    blueprint: Blueprint, *, endpoint_url: str, name_prefix: str
) -> MaterializedStack:
    """Create the blueprint's data resources in moto under `name_prefix`, in declaration order.

    The inputs are the program's own, with the placeholder prefix renamed and every reference
    to an earlier resource's synthesized id or ARN replaced by what moto returned for it; the
    result equals `materialize_stack` for the same prefix (a test holds the two together) but
    skips re-running the program, which keeps a per-test stack cheap.
    """
    materializer = MotoMaterializer(endpoint_url=endpoint_url, region=blueprint.region)
    renamed: list[tuple[str, str]] = []  # synthesized id or ARN (renamed) -> moto's

    def translate(value: Any) -> Any:
        return _substitute(_substitute(value, [(BLUEPRINT_PREFIX, name_prefix)]), renamed)

    for resource in blueprint.graph.resources:
        if not materializer.creates(resource.type):
            continue
        created = materializer.materialize(
            resource.type, resource.name, translate(dict(resource.inputs))
        )
        if created is None:
            continue
        real_id, real_outputs = created
        synthesized = {"id": resource.id, **resource.outputs}
        for key, real in {"id": real_id, **real_outputs}.items():
            fake = _substitute(synthesized.get(key), [(BLUEPRINT_PREFIX, name_prefix)])
            if isinstance(fake, str) and isinstance(real, str) and fake and fake != real:
                renamed.append((fake, real))
        # Longest first, so an ARN is replaced before the id it contains.
        renamed.sort(key=lambda pair: len(pair[0]), reverse=True)
    exports = translate(dict(blueprint.graph.exports))
    return MaterializedStack(exports=exports, graph=blueprint.graph)
