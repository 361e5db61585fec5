"""Profiles of an account (household members), at most MAX_PROFILES, enforced in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from control_plane.auth.models import Profile, ProfileCreate
from control_plane.auth.profile_ids import new_profile_id
from control_plane.auth.spec import ACCOUNTS_TABLE, PROFILES_TABLE
from control_plane.common.aws import dynamodb, dynamodb_table, unavailable_on_aws_error
from control_plane.common.errors import Conflict, NotFound
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource

logger = logging.getLogger(__name__)

MAX_PROFILES = 5


def _cancelled(exc: ClientError) -> bool:
    """Whether a write was refused by its conditions (anything else is a real failure)."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
    return (
        code == "TransactionCanceledException"
        and "ConditionalCheckFailed" in reasons
        and all(r in ("None", "ConditionalCheckFailed") for r in reasons)
    )


class ProfileStore:
    def __init__(self, resource: DynamoDBServiceResource, settings: ServiceSettings) -> None:
        self._client = resource.meta.client
        self._accounts = settings.table_name(ACCOUNTS_TABLE.name)
        self._profiles_name = settings.table_name(PROFILES_TABLE.name)
        self._profiles = dynamodb_table(settings, PROFILES_TABLE, resource=resource)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ProfileStore:
        return cls(dynamodb(settings), settings)

    def create(self, *, account_id: str, profile: ProfileCreate) -> Profile:
        """Add a profile; Conflict when the account has MAX_PROFILES already."""
        created = Profile(
            account_id=account_id, profile_id=new_profile_id(), **profile.model_dump()
        )
        with unavailable_on_aws_error("create the profile"):
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {"Update": self._count_update(account_id, +1)},
                        {
                            "Put": {
                                "TableName": self._profiles_name,
                                "Item": _item(created),
                                "ConditionExpression": "attribute_not_exists(profile_id)",
                            }
                        },
                    ]
                )
            except ClientError as exc:
                if _cancelled(exc):
                    raise Conflict(
                        f"an account has at most {MAX_PROFILES} profiles; delete one first"
                    ) from exc
                raise
        return created

    def list(self, account_id: str) -> list[Profile]:
        with unavailable_on_aws_error("list profiles"):
            items = self._profiles.query(
                KeyConditionExpression="account_id = :a",
                ExpressionAttributeValues={":a": account_id},
            )["Items"]
        return [_profile(item) for item in items]

    def scan(self) -> Iterator[Profile]:
        """Every profile of every account (for batch jobs)."""
        kwargs: dict[str, Any] = {}
        while True:
            with unavailable_on_aws_error("scan profiles"):
                page = self._profiles.scan(**kwargs)
            for item in page.get("Items", []):
                yield _profile(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, *, account_id: str, profile_id: str) -> Profile:
        with unavailable_on_aws_error("read the profile"):
            item = self._profiles.get_item(
                Key={"account_id": account_id, "profile_id": profile_id}
            ).get("Item")
        if item is None:
            raise NotFound(f"profile {profile_id!r} is not one of this account's profiles")
        return _profile(item)

    def delete(self, *, account_id: str, profile_id: str) -> None:
        with unavailable_on_aws_error("delete the profile"):
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {"Update": self._count_update(account_id, -1)},
                        {
                            "Delete": {
                                "TableName": self._profiles_name,
                                "Key": {"account_id": account_id, "profile_id": profile_id},
                                "ConditionExpression": "attribute_exists(profile_id)",
                            }
                        },
                    ]
                )
            except ClientError as exc:
                if _cancelled(exc):
                    raise NotFound(
                        f"profile {profile_id!r} is not one of this account's profiles"
                    ) from exc
                raise

    def _count_update(self, account_id: str, delta: int) -> Any:
        condition = (
            "attribute_not_exists(profile_count) OR profile_count < :max"
            if delta > 0
            else "profile_count > :zero"
        )
        # The resource's client serializes plain Python values itself.
        values = {":delta": delta, **({":max": MAX_PROFILES} if delta > 0 else {":zero": 0})}
        return {
            "TableName": self._accounts,
            "Key": {"account_id": account_id},
            "UpdateExpression": "ADD profile_count :delta",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }


def _item(profile: Profile) -> dict[str, Any]:
    return profile.model_dump(mode="json")


def _profile(item: dict[str, Any]) -> Profile:
    return Profile.model_validate(item)
