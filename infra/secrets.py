"""The stack's secrets (URL-signing secret, admin token, playback session secret) in Secrets
Manager under its KMS key."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

# The JSON keys of the secret; the Lambda entry point maps them onto ServiceSettings fields.
SECRET_FIELDS = ("url_signing_secret", "admin_token", "session_secret")


@dataclass(frozen=True)
class ServiceSecretsArgs:
    name_prefix: str
    kms_key_id: pulumi.Input[str]
    tags: dict[str, str]
    # Operator-supplied values (Pulumi config secrets); a missing one is generated.
    url_signing_secret: pulumi.Output[str] | None = None
    admin_token: pulumi.Output[str] | None = None
    session_secret: pulumi.Output[str] | None = None


class ServiceSecrets(pulumi.ComponentResource):
    """One Secrets Manager secret holding every service secret; only its ARN leaves the stack."""

    secret: aws.secretsmanager.Secret

    def __init__(
        self, name: str, args: ServiceSecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:ServiceSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        values: dict[str, pulumi.Output[str]] = {}
        for field, given in (
            ("url_signing_secret", args.url_signing_secret),
            ("admin_token", args.admin_token),
            ("session_secret", args.session_secret),
        ):
            if given is None:
                generated = random.RandomPassword(
                    f"{name}-{field.replace('_', '-')}",
                    random.RandomPasswordArgs(length=48, special=False),
                    child,
                )
                given = generated.result
            values[field] = pulumi.Output.secret(given)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            aws.secretsmanager.SecretArgs(
                name=f"{args.name_prefix}/service-secrets",
                description="URL-signing secret, admin token and playback session secret read by "
                "the control-plane Lambdas",
                kms_key_id=args.kms_key_id,
                recovery_window_in_days=7,
                tags=args.tags,
            ),
            child,
        )
        document = pulumi.Output.all(*values.values()).apply(
            lambda secrets: json.dumps(dict(zip(values, secrets, strict=True)))
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-secret-value",
            aws.secretsmanager.SecretVersionArgs(
                secret_id=self.secret.id, secret_string=pulumi.Output.secret(document)
            ),
            child,
        )
        self.register_outputs({"secret_arn": self.secret.arn})


class PaymentSecret(pulumi.ComponentResource):
    """The payment provider's credentials, for billing only. Pulumi creates the secret and never
    its value: the operator puts it (docs/subscriber.md), so the card keys are never in the
    stack's state; billing refuses to start, naming this secret, until it has one."""

    secret: aws.secretsmanager.Secret

    def __init__(
        self,
        name: str,
        *,
        name_prefix: str,
        kms_key_id: pulumi.Input[str],
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("edgefill:index:PaymentSecret", name, None, opts)
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            aws.secretsmanager.SecretArgs(
                name=f"{name_prefix}/payment",
                description="Payment provider credentials (JSON) read by the billing Lambdas; "
                "its value is put by the operator, not by Pulumi",
                kms_key_id=kms_key_id,
                recovery_window_in_days=7,
                tags=tags,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"secret_arn": self.secret.arn})
