"""The billing ledger: an append-only list of what happened to an account's money and plan."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from control_plane.billing.spec import LEDGER_TABLE
from control_plane.common.aws import dynamodb_table, unavailable_on_aws_error
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class EntryKind(StrEnum):
    CHARGED = "charged"
    DECLINED = "declined"
    SUBSCRIBED = "subscribed"
    PLAN_CHANGED = "plan_changed"
    CANCELLED = "cancelled"
    RENEWED = "renewed"
    LAPSED = "lapsed"
    REFUNDED = "refunded"


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    entry_id: str
    at: datetime
    kind: EntryKind
    plan_id: str
    amount_cents: int = 0
    currency: str = "USD"
    charge_id: str | None = None
    idempotency_key: str | None = None


class Ledger:
    """Appends and reads entries; there is deliberately no update or delete.

    An entry appended with `once_key` (and a deterministic `at`: the charge's time, the period
    boundary) gets a deterministic id, so a retried operation records it once, not twice.
    """

    def __init__(self, table: Table) -> None:
        self._table = table

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Ledger:
        return cls(dynamodb_table(settings, LEDGER_TABLE))

    def append(
        self,
        *,
        account_id: str,
        kind: EntryKind,
        plan_id: str,
        at: datetime | None = None,
        amount_cents: int = 0,
        currency: str = "USD",
        charge_id: str | None = None,
        idempotency_key: str | None = None,
        once_key: str | None = None,
    ) -> LedgerEntry:
        when = (at or datetime.now(UTC)).astimezone(UTC)
        if once_key is None:
            suffix = uuid.uuid4().hex[:8]
        else:
            suffix = hashlib.sha256(f"{kind}:{once_key}".encode()).hexdigest()[:12]
        entry = LedgerEntry(
            account_id=account_id,
            # Sorts by time; the suffix keeps two entries of one microsecond apart.
            entry_id=f"{when.strftime('%Y%m%dT%H%M%S.%fZ')}-{suffix}",
            at=when,
            kind=kind,
            plan_id=plan_id,
            amount_cents=amount_cents,
            currency=currency,
            charge_id=charge_id,
            idempotency_key=idempotency_key,
        )
        with unavailable_on_aws_error("append to the billing ledger"):
            try:
                self._table.put_item(
                    Item={
                        "account_id": account_id,
                        "entry_id": entry.entry_id,
                        "doc": entry.model_dump_json(),
                    },
                    ConditionExpression="attribute_not_exists(entry_id)",
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if once_key is None or code != "ConditionalCheckFailedException":
                    raise
                # Recorded by an earlier attempt of the same operation: nothing to add.
        return entry

    def entries(self, account_id: str) -> list[LedgerEntry]:
        """Every entry of the account, oldest first."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "account_id = :a",
            "ExpressionAttributeValues": {":a": account_id},
        }
        found: list[LedgerEntry] = []
        while True:
            with unavailable_on_aws_error("read the billing ledger"):
                page = self._table.query(**kwargs)
            found += [LedgerEntry.model_validate_json(str(i["doc"])) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
