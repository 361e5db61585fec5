"""The one API Gateway HTTP API every service's routes hang off, with its JWT authorizer."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import CustomDomain
from infra.log_groups import LogSettings, retained_log_group

# One JSON object per request in the access log; never the Authorization header.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTime",
        "method": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    }
)


@dataclass(frozen=True)
class HttpApiArgs:
    name_prefix: str
    region: str
    user_pool_id: pulumi.Input[str]
    user_pool_client_id: pulumi.Input[str]
    throttle_rate_per_second: float
    throttle_burst: int
    logs: LogSettings
    tags: dict[str, str]
    custom_domain: CustomDomain | None = None


class HttpApi(pulumi.ComponentResource):
    """HTTP API, `$default` stage (auto-deploy, throttling, JSON access logs), JWT authorizer."""

    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    jwt_authorizer: aws.apigatewayv2.Authorizer
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: HttpApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:HttpApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            aws.apigatewayv2.ApiArgs(
                name=f"{args.name_prefix}-api",
                protocol_type="HTTP",
                description="edgefill control plane: subscriber and fleet routes",
                tags=args.tags,
            ),
            child,
        )
        access_logs = retained_log_group(
            f"{name}-access-logs",
            group_name=f"/aws/apigateway/{args.name_prefix}-api",
            settings=args.logs,
            opts=child,
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            aws.apigatewayv2.StageArgs(
                api_id=self.api.id,
                name="$default",
                auto_deploy=True,
                default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                    throttling_rate_limit=args.throttle_rate_per_second,
                    throttling_burst_limit=args.throttle_burst,
                    detailed_metrics_enabled=True,
                ),
                access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                    destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
                ),
                tags=args.tags,
            ),
            child,
        )
        issuer = pulumi.Output.concat(
            "https://cognito-idp.", args.region, ".amazonaws.com/", args.user_pool_id
        )
        self.jwt_authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-subscriber-jwt",
            aws.apigatewayv2.AuthorizerArgs(
                api_id=self.api.id,
                name="subscriber-jwt",
                authorizer_type="JWT",
                identity_sources=["$request.header.Authorization"],
                jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                    issuer=issuer,
                    audiences=[args.user_pool_client_id],
                ),
            ),
            child,
        )
        self.url = self.api.api_endpoint
        if args.custom_domain is not None:
            self.url = self._map_custom_domain(name, args, args.custom_domain, child)
        self.register_outputs({"url": self.url, "api_id": self.api.id})

    def _map_custom_domain(
        self, name: str, args: HttpApiArgs, domain: CustomDomain, child: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        domain_name = aws.apigatewayv2.DomainName(
            f"{name}-domain",
            aws.apigatewayv2.DomainNameArgs(
                domain_name=domain.domain_name,
                domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                    certificate_arn=domain.certificate_arn,
                    endpoint_type="REGIONAL",
                    security_policy="TLS_1_2",
                ),
                tags=args.tags,
            ),
            child,
        )
        aws.apigatewayv2.ApiMapping(
            f"{name}-domain-mapping",
            aws.apigatewayv2.ApiMappingArgs(
                api_id=self.api.id, domain_name=domain_name.domain_name, stage=self.stage.id
            ),
            child,
        )
        return pulumi.Output.from_input(f"https://{domain.domain_name}")
