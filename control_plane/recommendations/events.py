"""Viewing events per profile: written on play/progress/finish, read by the nightly batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr

from control_plane.common.aws import dynamodb_table, unavailable_on_aws_error
from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.models import ViewingEvent
from control_plane.recommendations.spec import EVENTS_TABLE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

RETENTION = timedelta(days=180)


def profile_key(account_id: str, profile_id: str) -> str:
    return f"{account_id}#{profile_id}"


class EventStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> EventStore:
        return cls(dynamodb_table(settings, EVENTS_TABLE))

    def record(self, event: ViewingEvent) -> None:
        with unavailable_on_aws_error("record the viewing event"):
            self._table.put_item(
                Item={
                    "profile_key": profile_key(event.account_id, event.profile_id),
                    "event_id": f"{event.at.isoformat()}#{uuid.uuid4().hex[:8]}",
                    "at": event.at.isoformat(),
                    "expires_at": int((event.at + RETENTION).timestamp()),
                    "doc": event.model_dump_json(),
                }
            )

    def since(self, start: datetime) -> Iterator[ViewingEvent]:
        """Every event at or after `start` (a full scan: the nightly job's read)."""
        kwargs: dict[str, Any] = {"FilterExpression": Attr("at").gte(start.isoformat())}
        while True:
            with unavailable_on_aws_error("scan viewing events"):
                page = self._table.scan(**kwargs)
            for item in page.get("Items", []):
                yield ViewingEvent.model_validate_json(str(item["doc"]))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
