"""The auth service's registry entry and tables (no FastAPI import here)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec
from control_plane.services import RouteAuth, RoutePrefix, ServiceSpec

# One item per account: how many profiles it has (the bound is enforced with a condition).
ACCOUNTS_TABLE = TableSpec(name="auth-accounts", hash_key=KeyAttribute(name="account_id"))
PROFILES_TABLE = TableSpec(
    name="auth-profiles",
    hash_key=KeyAttribute(name="account_id"),
    range_key=KeyAttribute(name="profile_id"),
)
# Sessions logged out before their tokens expire; items expire with the session's refresh token.
REVOKED_SESSIONS_TABLE = TableSpec(
    name="auth-revoked-sessions",
    hash_key=KeyAttribute(name="session_id"),
    ttl_attribute="expires_at",
)

SERVICE = ServiceSpec(
    name="auth",
    app_factory="control_plane.auth.app:create_app",
    tables=(ACCOUNTS_TABLE, PROFILES_TABLE, REVOKED_SESSIONS_TABLE),
    routes=(
        RoutePrefix(prefix="/auth/signup", auth=RouteAuth.PUBLIC),
        RoutePrefix(prefix="/auth/confirm", auth=RouteAuth.PUBLIC),
        RoutePrefix(prefix="/auth/login", auth=RouteAuth.PUBLIC),
        RoutePrefix(prefix="/auth/refresh", auth=RouteAuth.PUBLIC),
        RoutePrefix(prefix="/auth/logout", auth=RouteAuth.SUBSCRIBER),
        RoutePrefix(prefix="/profiles", auth=RouteAuth.SUBSCRIBER),
    ),
    uses_user_pool=True,
)
