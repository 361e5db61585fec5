"""Logged-out sessions: kept until their refresh token would have expired, then DynamoDB's TTL drops them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from control_plane.auth.spec import REVOKED_SESSIONS_TABLE
from control_plane.common.aws import dynamodb_table, unavailable_on_aws_error
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# Cognito's default refresh-token lifetime: past it no token of the session can be minted.
SESSION_LIFETIME_S = 30 * 24 * 3600


class RevokedSessions:
    def __init__(self, table: Table) -> None:
        self._table = table

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> RevokedSessions:
        return cls(dynamodb_table(settings, REVOKED_SESSIONS_TABLE))

    def revoke(self, session_id: str) -> None:
        expires_at = int(time.time()) + SESSION_LIFETIME_S
        with unavailable_on_aws_error("record the log-out"):
            self._table.put_item(Item={"session_id": session_id, "expires_at": expires_at})

    def is_revoked(self, session_id: str) -> bool:
        with unavailable_on_aws_error("check the session"):
            item = self._table.get_item(Key={"session_id": session_id}).get("Item")
        # TTL deletion lags by up to days; an expired item no longer revokes anything.
        return item is not None and int(str(item["expires_at"])) > time.time()
