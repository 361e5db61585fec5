"""The subscriber directory: a Cognito user pool and the app client the auth service uses."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SubscriberDirectoryArgs:
    name_prefix: str
    password_min_length: int
    access_token_minutes: int
    refresh_token_days: int
    protect_data: bool
    tags: dict[str, str]


class SubscriberDirectory(pulumi.ComponentResource):
    """Cognito user pool (e-mail sign-in, strong passwords) and a secretless public client."""

    user_pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient

    def __init__(
        self, name: str, args: SubscriberDirectoryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:SubscriberDirectory", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.user_pool = aws.cognito.UserPool(
            f"{name}-pool",
            aws.cognito.UserPoolArgs(
                name=f"{args.name_prefix}-subscribers",
                username_attributes=["email"],
                auto_verified_attributes=["email"],
                deletion_protection="ACTIVE" if args.protect_data else "INACTIVE",
                mfa_configuration="OFF",
                password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                    minimum_length=args.password_min_length,
                    require_lowercase=True,
                    require_uppercase=True,
                    require_numbers=True,
                    require_symbols=False,
                    temporary_password_validity_days=3,
                ),
                account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                    recovery_mechanisms=[
                        aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                            name="verified_email", priority=1
                        )
                    ]
                ),
                tags=args.tags,
            ),
            child,
        )
        # bandit B106: the units of the token lifetimes, not tokens.
        validity_units = aws.cognito.UserPoolClientTokenValidityUnitsArgs(  # nosec B106
            access_token="minutes", id_token="minutes", refresh_token="days"
        )
        self.client = aws.cognito.UserPoolClient(
            f"{name}-client",
            aws.cognito.UserPoolClientArgs(
                name=f"{args.name_prefix}-players",
                user_pool_id=self.user_pool.id,
                generate_secret=False,
                explicit_auth_flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                prevent_user_existence_errors="ENABLED",
                enable_token_revocation=True,
                access_token_validity=args.access_token_minutes,
                id_token_validity=args.access_token_minutes,
                refresh_token_validity=args.refresh_token_days,
                token_validity_units=validity_units,
            ),
            child,
        )
        self.register_outputs(
            {"user_pool_id": self.user_pool.id, "user_pool_client_id": self.client.id}
        )
