"""Alarms and the dashboard: per-service alarms (errors, throttles, DLQ depth), the fleet-wide
stale-appliance alarm, and one dashboard over everything."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# The fleet's health sweep publishes how many appliances stopped heartbeating, per stack.
from control_plane.fleet.metric_names import (
    FLEET_METRIC_NAMESPACE,
    STACK_DIMENSION,
    STALE_APPLIANCES_METRIC,
)


@dataclass(frozen=True)
class MonitoringArgs:
    name_prefix: str
    region: str
    api_id: pulumi.Input[str]
    function_names: Sequence[pulumi.Input[str]]
    dead_letter_queue_names: Sequence[pulumi.Input[str]]
    alarm_topic_arn: pulumi.Input[str]
    stale_fleet_minutes: int
    tags: dict[str, str]


def dashboard_body(
    *, region: str, api_id: str, functions: Sequence[str], queues: Sequence[str], stack: str
) -> str:
    """CloudWatch dashboard JSON: API traffic and errors, Lambda health, DLQ depth, fleet."""

    def widget(title: str, metrics: list[list[object]], y: int, x: int = 0) -> dict[str, object]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "metrics": metrics,
                "stat": "Sum",
                "period": 300,
            },
        }

    widgets = [
        widget(
            "API requests and errors",
            [
                ["AWS/ApiGateway", name, "ApiId", api_id, "Stage", "$default"]
                for name in ("Count", "4xx", "5xx")
            ],
            y=0,
        ),
        widget(
            "Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", f] for f in functions], 0, 12
        ),
        widget(
            "Lambda throttles",
            [["AWS/Lambda", "Throttles", "FunctionName", f] for f in functions],
            6,
        ),
        widget(
            "Dead-letter queue depth",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q] for q in queues],
            6,
            12,
        ),
        widget(
            "Stale appliances",
            [[FLEET_METRIC_NAMESPACE, STALE_APPLIANCES_METRIC, STACK_DIMENSION, stack]],
            12,
        ),
    ]
    return json.dumps({"widgets": widgets})


def _alarm_at_one(
    resource_name: str,
    *,
    name: pulumi.Input[str],
    description: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, pulumi.Input[str]],
    statistic: str,
    alarm_topic_arn: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
    evaluation_periods: int = 1,
    missing_data_breaches: bool = False,
) -> aws.cloudwatch.MetricAlarm:
    """An alarm when the metric reaches 1 in a 5-minute period; it notifies the alarm topic.
    `missing_data_breaches`: no data alarms too (for a metric that must always arrive)."""
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        aws.cloudwatch.MetricAlarmArgs(
            name=name,
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=statistic,
            period=300,
            evaluation_periods=evaluation_periods,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="breaching" if missing_data_breaches else "notBreaching",
            alarm_actions=[alarm_topic_arn],
            ok_actions=[alarm_topic_arn],
            tags=tags,
        ),
        opts,
    )


def service_alarms(
    resource_prefix: str,
    *,
    label: str,
    functions: Mapping[str, aws.lambda_.Function],
    dead_letter_queue: aws.sqs.Queue,
    alarm_topic_arn: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    """Errors and throttles of each function (by resource name), and any message in the DLQ."""
    for resource_name, function in functions.items():
        for metric in ("Errors", "Throttles"):
            _alarm_at_one(
                f"{resource_name}-{metric.lower()}",
                name=pulumi.Output.concat(function.name, f"-{metric.lower()}"),
                description=f"{metric} in a {label} function",
                namespace="AWS/Lambda",
                metric=metric,
                dimensions={"FunctionName": function.name},
                statistic="Sum",
                alarm_topic_arn=alarm_topic_arn,
                tags=tags,
                opts=opts,
            )
    _alarm_at_one(
        f"{resource_prefix}-dlq-depth",
        name=f"{label}-dlq-depth",
        description=f"Failed async work of {label} is waiting in its dead-letter queue",
        namespace="AWS/SQS",
        metric="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": dead_letter_queue.name},
        statistic="Maximum",
        alarm_topic_arn=alarm_topic_arn,
        tags=tags,
        opts=opts,
    )


class Monitoring(pulumi.ComponentResource):
    """One dashboard over every service, and the alarm for appliances that stopped reporting."""

    dashboard: aws.cloudwatch.Dashboard

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("edgefill:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        functions = list(args.function_names)
        queues = list(args.dead_letter_queue_names)
        body = pulumi.Output.all(args.api_id, *functions, *queues).apply(
            lambda values: dashboard_body(
                region=args.region,
                api_id=str(values[0]),
                functions=[str(v) for v in values[1 : 1 + len(functions)]],
                queues=[str(v) for v in values[1 + len(functions) :]],
                stack=args.name_prefix,
            )
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            aws.cloudwatch.DashboardArgs(dashboard_name=args.name_prefix, dashboard_body=body),
            child,
        )
        _alarm_at_one(
            f"{name}-stale-fleet",
            name=f"{args.name_prefix}-stale-fleet",
            description="Appliances stopped heartbeating; check the sites in the fleet view",
            namespace=FLEET_METRIC_NAMESPACE,
            metric=STALE_APPLIANCES_METRIC,
            dimensions={STACK_DIMENSION: args.name_prefix},
            statistic="Maximum",
            evaluation_periods=max(1, args.stale_fleet_minutes // 5),
            # The sweep publishes every minute; silence means the sweep (or the fleet) is down.
            missing_data_breaches=True,
            alarm_topic_arn=args.alarm_topic_arn,
            tags=args.tags,
            opts=child,
        )
        self.register_outputs({"dashboard_name": self.dashboard.dashboard_name})
