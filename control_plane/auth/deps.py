"""FastAPI dependencies of subscriber routes, as Annotated aliases (`CurrentSubscriber`).

Every service with subscriber routes uses them; `install_subscriber_auth` (auth.app) puts the
token verifier they read on app.state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from control_plane.auth.profile_ids import PROFILE_ID_PATTERN
from control_plane.auth.tokens import Subscriber, TokenVerifier
from control_plane.common.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="A Cognito access token from /auth/login.")


def current_subscriber(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Subscriber:
    """The verified caller; 401 when the bearer token is missing or fails any check."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send 'Authorization: Bearer <access token>' from /auth/login")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(credentials.credentials)


CurrentSubscriber = Annotated[Subscriber, Depends(current_subscriber)]


# A profile id as a route's path parameter.
ProfileIdPath = Annotated[str, Path(pattern=PROFILE_ID_PATTERN)]
