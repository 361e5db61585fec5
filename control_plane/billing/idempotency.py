"""Idempotency keys for money-moving calls: a retried request gets the first answer, never a second charge.

The first request with a key claims it with a conditional put (status `in_progress`); only the
claimant runs the operation, then stores its answer (`completed`). A retry with the same key
and the same request gets that answer; with a different request, 422; while the first is still
running, 409. An operation that fails without an answer (a timeout, an outage) releases the
claim (status `released`) so a retry runs it again; the payment provider deduplicates by the
same key. A released key stays bound to its request: a later call with the same key and a
different request (another plan, another amount) is a 422 whatever happened before, so a key
that charged for premium and failed cannot later be replayed as a basic subscription.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from control_plane.billing.spec import IDEMPOTENCY_TABLE
from control_plane.common.aws import dynamodb_table, unavailable_on_aws_error
from control_plane.common.errors import Conflict, ControlPlaneError
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

logger = logging.getLogger(__name__)

KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
RETENTION_S = 24 * 3600
STALE_CLAIM_S = 60  # a claim this old belongs to a crashed request and may be taken over


class KeyReused(ControlPlaneError):
    status_code = 422
    code = "idempotency_key_reused"


class StoredAnswer(BaseModel):
    status_code: int
    body: dict[str, Any]


def fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, table: Table, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> IdempotencyStore:
        return cls(dynamodb_table(settings, IDEMPOTENCY_TABLE))

    def run(
        self, *, key: str, request: dict[str, Any], operation: Callable[[], StoredAnswer]
    ) -> StoredAnswer:
        """`operation`'s answer, run at most once per key (its errors are answers too, if 4xx)."""
        request_hash = fingerprint(request)
        previous = self._claim(key, request_hash)
        if previous is not None:
            return previous
        try:
            answer = operation()
        except ControlPlaneError as exc:
            if exc.status_code >= 500:
                self._release(key)
                raise
            answer = StoredAnswer(
                status_code=exc.status_code, body={"error": exc.code, "message": exc.message}
            )
        except BaseException:
            self._release(key)
            raise
        self._complete(key, answer)
        return answer

    def _claim(self, key: str, request_hash: str) -> StoredAnswer | None:
        now = self._clock()
        with unavailable_on_aws_error("record the idempotency key"):
            try:
                self._table.put_item(
                    Item={
                        "key": key,
                        "status": "in_progress",
                        "request_hash": request_hash,
                        "claimed_at": int(now),
                        "expires_at": int(now) + RETENTION_S,
                    },
                    ConditionExpression=(
                        "attribute_not_exists(#k)"
                        " OR (#s = :p AND claimed_at < :stale AND request_hash = :h)"
                        " OR (#s = :r AND request_hash = :h)"
                    ),
                    ExpressionAttributeNames={"#k": "key", "#s": "status"},
                    ExpressionAttributeValues={
                        ":p": "in_progress",
                        ":r": "released",
                        ":h": request_hash,
                        ":stale": int(now) - STALE_CLAIM_S,
                    },
                )
                return None
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
            item = self._table.get_item(Key={"key": key}, ConsistentRead=True).get("Item")
        if item is None:  # expired between the two calls: treat as a fresh claim next time
            raise Conflict("this Idempotency-Key is being recycled; retry in a second")
        if item["request_hash"] != request_hash:
            raise KeyReused(
                "this Idempotency-Key was used for a different request; use a new key per request"
            )
        if item["status"] != "completed":
            raise Conflict("a request with this Idempotency-Key is in progress; retry shortly")
        logger.info("replaying the stored answer for an idempotency key")
        return StoredAnswer.model_validate_json(str(item["answer"]))

    def _complete(self, key: str, answer: StoredAnswer) -> None:
        with unavailable_on_aws_error("store the answer for the idempotency key"):
            self._table.update_item(
                Key={"key": key},
                UpdateExpression="SET #s = :c, answer = :a",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": "completed", ":a": answer.model_dump_json()},
            )

    def _release(self, key: str) -> None:
        """Let a retry of the same request run again; the key stays bound to that request."""
        with unavailable_on_aws_error("release the idempotency key"):
            try:
                self._table.update_item(
                    Key={"key": key},
                    UpdateExpression="SET #s = :r",
                    ConditionExpression="#s = :p",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":p": "in_progress", ":r": "released"},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                # Taken over by a retry after the stale-claim minute: it is theirs now.
