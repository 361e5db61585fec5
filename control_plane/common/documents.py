"""Pydantic documents in DynamoDB with optimistic concurrency: the services' storage primitive.

An item is its key attributes, ``doc`` (the model as JSON) and ``revision`` (an integer that
every write bumps under a condition), so concurrent writers never lose each other's updates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from control_plane.common.aws import dynamodb, dynamodb_table
from control_plane.common.errors import Conflict, NotFound, Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.common.tables import TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
_MAX_ATTEMPTS = 6
_BATCH_GET = 100  # BatchGetItem's limit
_TRANSACTION_LIMIT = 100  # TransactWriteItems' limit
_LOST_RACE = {"ConditionalCheckFailed", "TransactionConflict"}


@dataclass(frozen=True)
class Stored(Generic[M]):
    doc: M
    revision: int


class DocumentTable(Generic[M]):
    """One table of `model` documents, keyed by the attributes `key_of` returns."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        spec: TableSpec,
        model: type[M],
        key_of: Callable[[M], dict[str, str]],
        attributes_of: Callable[[M], dict[str, Any]] | None = None,
    ) -> None:
        self._resource = dynamodb(settings)
        self._table: Table = dynamodb_table(settings, spec, resource=self._resource)
        self._spec = spec
        self._model = model
        self._key_of = key_of
        # Top-level attributes beside the key: an index's keys, a TTL attribute.
        self._attributes_of = attributes_of

    def get(self, key: dict[str, str]) -> Stored[M] | None:
        item = _call(lambda: self._table.get_item(Key=key, ConsistentRead=True)).get("Item")
        return None if item is None else self._parse(item)

    def get_many(self, keys: Sequence[dict[str, str]]) -> list[M]:
        """The documents of `keys` that exist (strongly consistent), 100 keys per call, keys
        DynamoDB leaves unprocessed asked again with backoff; order not kept."""
        found: list[M] = []
        for start in range(0, len(keys), _BATCH_GET):
            pending: list[dict[str, str]] = list(keys[start : start + _BATCH_GET])
            for attempt in range(_MAX_ATTEMPTS):
                request = {self._table.name: {"Keys": pending, "ConsistentRead": True}}
                answer = _call(partial(self._resource.batch_get_item, RequestItems=request))  # type: ignore[arg-type]
                found.extend(
                    self._parse(item).doc
                    for item in answer.get("Responses", {}).get(self._table.name, [])
                )
                left = answer.get("UnprocessedKeys", {}).get(self._table.name)
                if not left:
                    break
                pending = list(left["Keys"])  # type: ignore[arg-type]
                time.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise Unavailable(
                    f"{self._spec.name}: DynamoDB kept {len(pending)} keys unprocessed; retry"
                )
        return found

    def require(self, key: dict[str, str], what: str) -> Stored[M]:
        stored = self.get(key)
        if stored is None:
            raise NotFound(f"{what} does not exist; check the id or create it first")
        return stored

    def create(self, doc: M, what: str) -> M:
        """Write a new document; Conflict if one with the same key exists."""
        key = self._key_of(doc)
        if not self._write(
            doc, revision=1, condition=f"attribute_not_exists({self._spec.hash_key.name})"
        ):
            raise Conflict(f"{what} already exists; update it instead of creating it again")
        logger.debug("created %s %s", self._spec.name, key)
        return doc

    def update(self, key: dict[str, str], change: Callable[[M], M], what: str) -> M:
        """Apply `change` to the stored document, retrying when another writer got in first."""
        for _ in range(_MAX_ATTEMPTS):
            stored = self.require(key, what)
            updated = change(stored.doc)
            if self._key_of(updated) != key:
                raise Conflict(f"{what}: an update may not change the document's key")
            if self._write(updated, revision=stored.revision + 1, expected=stored.revision):
                return updated
        raise Unavailable(f"{what} is being changed by others right now; retry in a moment")

    def upsert(self, key: dict[str, str], *, initial: M, change: Callable[[M], M], what: str) -> M:
        """`change` the stored document, or write `initial` when there is none yet: one read
        and one conditional write when nobody else writes it meanwhile (heartbeats do this at
        fleet rate)."""
        for _ in range(_MAX_ATTEMPTS):
            stored = self.get(key)
            if stored is None:
                result = initial
                written = self._write(
                    initial,
                    revision=1,
                    condition=f"attribute_not_exists({self._spec.hash_key.name})",
                )
            else:
                result = change(stored.doc)
                if self._key_of(result) != key:
                    raise Conflict(f"{what}: an update may not change the document's key")
                written = self._write(
                    result, revision=stored.revision + 1, expected=stored.revision
                )
            if written:
                return result
        raise Unavailable(f"{what} is being changed by others right now; retry in a moment")

    def pending_write(self, doc: M, *, expected: int | None) -> PendingWrite:
        """`doc` as one write of a `write_all` transaction: over revision `expected`, or only
        where no document is yet when `expected` is None."""
        return PendingWrite(table=self, doc=doc, expected=expected)

    def put(self, doc: M) -> M:
        """Write unconditionally (for append-only records such as audit events)."""
        _call(lambda: self._table.put_item(Item=self._item(doc, revision=1)))
        return doc

    def delete(self, key: dict[str, str]) -> None:
        """Remove a document (absent already: nothing happens)."""
        _call(lambda: self._table.delete_item(Key=key))

    def scan(self) -> Iterator[M]:
        return self._paged(self._table.scan, {})

    def query(self, hash_value: str, *, newest_first: bool = False, limit: int = 100) -> list[M]:
        """Documents sharing one hash key, in range-key order."""
        from boto3.dynamodb.conditions import Key

        page = _call(
            lambda: self._table.query(
                KeyConditionExpression=Key(self._spec.hash_key.name).eq(hash_value),
                ScanIndexForward=not newest_first,
                Limit=limit,
            )
        )
        return [self._parse(item).doc for item in page.get("Items", [])]

    def query_index(
        self, index: str, hash_name: str, hash_value: str, *, skip_invalid: bool = False
    ) -> Iterator[M]:
        """Every document of one hash value of a global index (eventually consistent), paged.

        With `skip_invalid`, an item whose document no longer parses is logged and skipped
        instead of ending the iteration.
        """
        from boto3.dynamodb.conditions import Key

        return self._paged(
            self._table.query,
            {"IndexName": index, "KeyConditionExpression": Key(hash_name).eq(hash_value)},
            skip_invalid=skip_invalid,
        )

    def _paged(
        self, read: Callable[..., Any], kwargs: dict[str, Any], *, skip_invalid: bool = False
    ) -> Iterator[M]:
        """Every document a scan or query returns, following LastEvaluatedKey."""
        while True:
            page = _call(partial(read, **kwargs))
            for item in page.get("Items", []):
                try:
                    doc = self._parse(item).doc
                except ValidationError as exc:
                    if not skip_invalid:
                        raise
                    logger.warning(
                        "skipping %s item %s: its document does not parse (%d errors)",
                        self._spec.name,
                        {k: item.get(k) for k in self._spec.attributes()},
                        exc.error_count(),
                    )
                    continue
                yield doc
            if "LastEvaluatedKey" not in page:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def _write(
        self, doc: M, *, revision: int, expected: int | None = None, condition: str | None = None
    ) -> bool:
        item = self._item(doc, revision=revision)
        try:
            if expected is not None:
                self._table.put_item(
                    Item=item,
                    ConditionExpression="revision = :expected",
                    ExpressionAttributeValues={":expected": expected},
                )
            elif condition is not None:
                self._table.put_item(Item=item, ConditionExpression=condition)
            else:
                self._table.put_item(Item=item)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise _unavailable(exc) from exc
        return True

    def _item(self, doc: M, *, revision: int) -> dict[str, Any]:
        extra = self._attributes_of(doc) if self._attributes_of is not None else {}
        return {**extra, **self._key_of(doc), "doc": doc.model_dump_json(), "revision": revision}

    def _parse(self, item: dict[str, Any]) -> Stored[M]:
        return Stored(
            doc=self._model.model_validate_json(str(item["doc"])), revision=int(item["revision"])
        )


@dataclass(frozen=True)
class PendingWrite:
    """One conditional document write of a transaction (see `write_all`)."""

    table: DocumentTable[Any]
    doc: BaseModel
    expected: int | None

    def transact_item(self) -> TransactWriteItemTypeDef:
        table = self.table
        revision = 1 if self.expected is None else self.expected + 1
        item = table._item(self.doc, revision=revision)
        # The resource's client serialises Python values itself (boto3's transformation
        # hooks), as the Table calls do: no TypeSerializer here.
        put: dict[str, Any] = {"TableName": table._table.name, "Item": item}
        if self.expected is None:
            put["ConditionExpression"] = f"attribute_not_exists({table._spec.hash_key.name})"
        else:
            put["ConditionExpression"] = "revision = :expected"
            put["ExpressionAttributeValues"] = {":expected": self.expected}
        # Python values, not the low-level AttributeValue shape the client's types name.
        return {"Put": put}  # type: ignore[typeddict-item]


def write_all(writes: Sequence[PendingWrite]) -> bool:
    """All of `writes` or none, in one DynamoDB transaction (at most 100 writes, each over the
    revision it expects); False when another writer got in first (nothing was written)."""
    if not writes:
        return True
    if len(writes) > _TRANSACTION_LIMIT:
        raise ValueError(f"a transaction writes at most {_TRANSACTION_LIMIT} documents")
    client = writes[0].table._resource.meta.client
    try:
        client.transact_write_items(TransactItems=[w.transact_item() for w in writes])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reasons = {r.get("Code") for r in exc.response.get("CancellationReasons") or []}
        # A failed condition, or another transaction on one of the items at the same moment
        # (TransactionConflict): someone else got in first, the caller reads again and retries.
        if error.get("Code") == "TransactionCanceledException" and reasons & _LOST_RACE:
            return False
        raise _unavailable(exc) from exc
    return True


T = TypeVar("T")


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ClientError as exc:
        raise _unavailable(exc) from exc


def _unavailable(exc: ClientError) -> Unavailable:
    code = exc.response.get("Error", {}).get("Code", "unknown")
    logger.error("DynamoDB call failed: %s", code)
    return Unavailable(f"the fleet store failed ({code}); retry shortly")
