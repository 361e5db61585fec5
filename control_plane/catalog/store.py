"""The catalogue table: one item per title, holding the title's JSON document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from control_plane.catalog.models import Title
from control_plane.catalog.spec import TITLES_TABLE
from control_plane.common.aws import dynamodb_table, unavailable_on_aws_error
from control_plane.common.errors import NotFound
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table as DynamoTable


class CatalogStore:
    """Reads and writes titles. The document is stored whole: titles are read whole, and
    JSON keeps floats and nested file lists exact without DynamoDB's Decimal mapping."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> CatalogStore:
        return cls(dynamodb_table(settings, TITLES_TABLE))

    def put(self, title: Title) -> None:
        with unavailable_on_aws_error("write title"):
            self._table.put_item(Item={"title_id": title.title_id, "doc": title.model_dump_json()})

    def get(self, title_id: str) -> Title:
        """The title, or NotFound saying which id is unknown."""
        with unavailable_on_aws_error("read title"):
            item = self._table.get_item(Key={"title_id": title_id}).get("Item")
        if item is None:
            raise NotFound(f"title {title_id!r} is not in the catalogue; search for its id first")
        return _title(item)

    def scan(self) -> Iterator[Title]:
        """Every title, page by page (what the search index is built from)."""
        kwargs: dict[str, Any] = {}
        while True:
            with unavailable_on_aws_error("scan titles"):
                page = self._table.scan(**kwargs)
            for item in page.get("Items", []):
                yield _title(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _title(item: dict[str, Any]) -> Title:
    return Title.model_validate_json(str(item["doc"]))
