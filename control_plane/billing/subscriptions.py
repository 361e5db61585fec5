"""Subscriptions: one per account, updated with an optimistic version check.

A PENDING row is the charge intent of a subscribe: it carries the request's idempotency key
(`charge_key`, which is also the provider's key) and when it was claimed, so a retry with the
same key resumes it and the reconciler can settle it if nobody retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from control_plane.billing.spec import SUBSCRIPTIONS_TABLE
from control_plane.common.aws import dynamodb_table, unavailable_on_aws_error
from control_plane.common.errors import Conflict
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # claimed while the first charge runs
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal was declined
    CANCELLED = "cancelled"


class PendingChange(BaseModel):
    """An upgrade claimed on the row before its charge: the plan, the price difference it
    charges for the period ending `period_end`, and the provider key of that charge. Settled
    by exactly one party: the request (or its same-key retry) applies it after the charge; a
    request with another key or the reconciler, once it is older than the grace, asks the
    provider and applies it (paid) or drops it (unpaid)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan_id: str
    amount_cents: int
    charge_key: str
    period_end: datetime
    claimed_at: datetime


class Subscription(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    plan_id: str
    status: SubscriptionStatus
    current_period_end: datetime
    cancel_at_period_end: bool = False
    payment_method: str = Field(exclude=True)
    version: int = 0
    charge_key: str | None = Field(default=None, exclude=True)
    created_at: datetime | None = Field(default=None, exclude=True)
    pending_change: PendingChange | None = Field(default=None, exclude=True)
    # The key of the last plan change applied: a party that finds its change gone tells
    # "applied by someone else" (its answer) from "dropped as unpaid" (refund) by it.
    applied_change_key: str | None = Field(default=None, exclude=True)


class SubscriptionStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> SubscriptionStore:
        return cls(dynamodb_table(settings, SUBSCRIPTIONS_TABLE))

    def get(self, account_id: str) -> Subscription | None:
        with unavailable_on_aws_error("read the subscription"):
            item = self._table.get_item(Key={"account_id": account_id}, ConsistentRead=True).get(
                "Item"
            )
        return None if item is None else _subscription(item)

    def claim(self, pending: Subscription) -> None:
        """Start a subscription; Conflict when the account has a live one. A cancelled one, or
        one past due (its renewal was declined), is replaced: subscribing again is the way
        back from a declined card."""
        self._write(
            pending,
            condition="attribute_not_exists(account_id) OR #s IN (:cancelled, :past_due)",
            values={
                ":cancelled": SubscriptionStatus.CANCELLED.value,
                ":past_due": SubscriptionStatus.PAST_DUE.value,
            },
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

    def activate(self, pending: Subscription, *, period_end: datetime) -> Subscription:
        """Turn our own PENDING row ACTIVE; Conflict if it is no longer that row."""
        return self._replace_own_pending(
            pending,
            {"status": SubscriptionStatus.ACTIVE, "current_period_end": period_end},
        )

    def advance(self, current: Subscription, *, period_end: datetime) -> Subscription:
        """Move an ACTIVE period on, conditional on (version, current_period_end): of two runs
        or a run and its retry, one advances and the other gets Conflict."""
        advanced = current.model_copy(
            update={"current_period_end": period_end, "version": current.version + 1}
        )
        self._write(
            advanced,
            condition="#s = :a AND version = :v AND current_period_end = :e",
            values={
                ":a": SubscriptionStatus.ACTIVE.value,
                ":v": current.version,
                ":e": _json(current)["current_period_end"],
            },
            refusal="the subscription was renewed or changed meanwhile",
        )
        return advanced

    def renew_claim(self, pending: Subscription, *, now: datetime) -> Subscription:
        """A resumed attempt's PENDING row, claimed anew at `now` (version moved on): the
        reconciler's grace counts from the resume, and a reconciler still holding the old row
        can no longer delete it under the charge the resume is about to make."""
        return self._replace_own_pending(pending, {"created_at": now})

    def _replace_own_pending(self, pending: Subscription, update: dict[str, Any]) -> Subscription:
        """`pending` with `update` (and the next version), written only while the stored row is
        still that PENDING row, same version and charge key; Conflict otherwise."""
        new = pending.model_copy(update={**update, "version": pending.version + 1})
        self._write(
            new,
            condition="#s = :p AND version = :v AND charge_key = :k",
            values={
                ":p": SubscriptionStatus.PENDING.value,
                ":v": pending.version,
                ":k": pending.charge_key,
            },
            refusal="the pending subscription changed meanwhile",
        )
        return new

    def delete_pending(self, pending: Subscription) -> None:
        """Remove our PENDING row; Conflict if it changed meanwhile (someone else settled it)."""
        with unavailable_on_aws_error("undo the pending subscription"):
            try:
                self._table.delete_item(
                    Key={"account_id": pending.account_id},
                    ConditionExpression="#s = :p AND version = :v",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":p": "pending", ":v": pending.version},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    raise Conflict("the pending subscription changed meanwhile") from exc
                raise

    def due(self, now: datetime) -> Iterator[Subscription]:
        """Active subscriptions whose period has ended (scans: fine for an hourly job)."""
        for sub in self._scan():
            if sub.status is SubscriptionStatus.ACTIVE and sub.current_period_end <= now:
                yield sub

    def pending_since(self, cutoff: datetime) -> Iterator[Subscription]:
        """PENDING rows claimed at or before `cutoff` (rows without a claim time count too)."""
        for sub in self._scan():
            if sub.status is SubscriptionStatus.PENDING and (
                sub.created_at is None or sub.created_at <= cutoff
            ):
                yield sub

    def changes_since(self, cutoff: datetime) -> Iterator[Subscription]:
        """Rows with a plan change claimed at or before `cutoff` and never settled."""
        for sub in self._scan():
            if sub.pending_change is not None and sub.pending_change.claimed_at <= cutoff:
                yield sub

    def _scan(self) -> Iterator[Subscription]:
        kwargs: dict[str, Any] = {}
        while True:
            with unavailable_on_aws_error("scan subscriptions"):
                page = self._table.scan(**kwargs)
            for item in page.get("Items", []):
                yield _subscription(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _write(
        self, sub: Subscription, *, condition: str, values: dict[str, Any], refusal: str
    ) -> None:
        item = _json(sub)
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


def _json(sub: Subscription) -> dict[str, Any]:
    """The stored item: the wire fields plus the ones the API never shows."""
    item = sub.model_dump(mode="json") | {"payment_method": sub.payment_method}
    if sub.charge_key is not None:
        item["charge_key"] = sub.charge_key
    if sub.created_at is not None:
        item["created_at"] = sub.created_at.isoformat()
    if sub.pending_change is not None:
        item["pending_change"] = sub.pending_change.model_dump(mode="json")
    if sub.applied_change_key is not None:
        item["applied_change_key"] = sub.applied_change_key
    return item


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription.model_validate({**item, "version": int(str(item.get("version", 0)))})
