"""Subscriptions: one per account, updated with an optimistic version check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from control_plane.billing.spec import SUBSCRIPTIONS_TABLE
from control_plane.common.aws import dynamodb, unavailable_on_aws_error
from control_plane.common.errors import Conflict
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # claimed while the first charge runs
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal was declined
    CANCELLED = "cancelled"


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    plan_id: str
    status: SubscriptionStatus
    current_period_end: datetime
    cancel_at_period_end: bool = False
    payment_method: str = Field(exclude=True)
    version: int = 0


class SubscriptionStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> SubscriptionStore:
        return cls(dynamodb(settings).Table(settings.table_name(SUBSCRIPTIONS_TABLE.name)))

    def get(self, account_id: str) -> Subscription | None:
        with unavailable_on_aws_error("read the subscription"):
            item = self._table.get_item(Key={"account_id": account_id}, ConsistentRead=True).get(
                "Item"
            )
        return None if item is None else _subscription(item)

    def claim(self, pending: Subscription) -> None:
        """Start a subscription; Conflict when the account has a live one."""
        self._write(
            pending,
            condition="attribute_not_exists(account_id) OR #s = :cancelled",
            values={":cancelled": SubscriptionStatus.CANCELLED.value},
            refusal="this account already has a subscription; change its plan instead",
        )

    def replace(self, current: Subscription, new: Subscription) -> Subscription:
        """Write `new` if the stored version is still `current`'s; Conflict if it moved on."""
        updated = new.model_copy(update={"version": current.version + 1})
        self._write(
            updated,
            condition="version = :v AND attribute_exists(#s)",
            values={":v": current.version},
            refusal="the subscription changed meanwhile; reload it and retry",
        )
        return updated

    def delete_pending(self, pending: Subscription) -> None:
        with unavailable_on_aws_error("undo the pending subscription"):
            self._table.delete_item(
                Key={"account_id": pending.account_id},
                ConditionExpression="#s = :p AND version = :v",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":p": "pending", ":v": pending.version},
            )

    def due(self, now: datetime) -> Iterator[Subscription]:
        """Active subscriptions whose period has ended (scans: fine for a nightly job)."""
        kwargs: dict[str, Any] = {}
        while True:
            with unavailable_on_aws_error("scan subscriptions"):
                page = self._table.scan(**kwargs)
            for item in page.get("Items", []):
                sub = _subscription(item)
                if sub.status is SubscriptionStatus.ACTIVE and sub.current_period_end <= now:
                    yield sub
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _write(
        self, sub: Subscription, *, condition: str, values: dict[str, Any], refusal: str
    ) -> None:
        item = sub.model_dump(mode="json") | {"payment_method": sub.payment_method}
        with unavailable_on_aws_error("write the subscription"):
            try:
                self._table.put_item(
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    raise Conflict(refusal) from exc
                raise


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription.model_validate({**item, "version": int(str(item.get("version", 0)))})
