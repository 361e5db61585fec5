"""Stored results of the nightly batch: picks per profile and popular titles per region."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from control_plane.common.aws import dynamodb, dynamodb_table, unavailable_on_aws_error
from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.models import Pick, PickList
from control_plane.recommendations.spec import PICKS_TABLE, POPULAR_TABLE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

_PICKS = TypeAdapter(list[Pick])


class PicksStore:
    def __init__(self, picks: Table, popular: Table) -> None:
        self._picks = picks
        self._popular = popular

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> PicksStore:
        resource = dynamodb(settings)
        return cls(
            dynamodb_table(settings, PICKS_TABLE, resource=resource),
            dynamodb_table(settings, POPULAR_TABLE, resource=resource),
        )

    def put_picks(self, key: str, picks: PickList) -> None:
        with unavailable_on_aws_error("store recommendations"):
            self._picks.put_item(Item={"profile_key": key, "doc": picks.model_dump_json()})

    def picks(self, key: str) -> PickList | None:
        with unavailable_on_aws_error("read recommendations"):
            item = self._picks.get_item(Key={"profile_key": key}).get("Item")
        return None if item is None else PickList.model_validate_json(str(item["doc"]))

    def put_popular(self, region: str, picks: list[Pick]) -> None:
        with unavailable_on_aws_error("store regional popularity"):
            self._popular.put_item(Item={"region": region, "doc": _PICKS.dump_json(picks).decode()})

    def popular(self, region: str) -> list[Pick]:
        with unavailable_on_aws_error("read regional popularity"):
            item = self._popular.get_item(Key={"region": region}).get("Item")
        return [] if item is None else _PICKS.validate_json(str(item["doc"]))
