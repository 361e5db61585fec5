"""Auth and profile routes; thin, they call the user pool and the stores."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from control_plane.auth.cognito import UserPool
from control_plane.auth.deps import CurrentSubscriber, ProfileIdPath
from control_plane.auth.models import (
    ConfirmRequest,
    Credentials,
    Profile,
    ProfileCreate,
    RefreshRequest,
    SignUpResponse,
    Tokens,
)
from control_plane.auth.profiles import ProfileStore
from control_plane.auth.sessions import RevokedSessions

auth_router = APIRouter(prefix="/auth", tags=["auth"])
profiles_router = APIRouter(prefix="/profiles", tags=["profiles"])


def _pool(request: Request) -> UserPool:
    pool: UserPool = request.app.state.user_pool
    return pool


def _profiles(request: Request) -> ProfileStore:
    store: ProfileStore = request.app.state.profiles
    return store


@auth_router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=SignUpResponse)
def sign_up(request: Request, body: Credentials) -> SignUpResponse:
    return _pool(request).sign_up(body)


@auth_router.post("/confirm", status_code=status.HTTP_204_NO_CONTENT)
def confirm(request: Request, body: ConfirmRequest) -> Response:
    _pool(request).confirm(email=body.email, code=body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post("/login", response_model=Tokens)
def log_in(request: Request, body: Credentials) -> Tokens:
    return _pool(request).log_in(body)


@auth_router.post("/refresh", response_model=Tokens)
def refresh(request: Request, body: RefreshRequest) -> Tokens:
    return _pool(request).refresh(body.refresh_token.get_secret_value())


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def log_out(
    request: Request,
    subscriber: CurrentSubscriber,
    everywhere: Annotated[
        bool, Query(description="Also end every other device's session.")
    ] = False,
) -> Response:
    """End this session now; with `everywhere`, no device can refresh its tokens again."""
    revoked: RevokedSessions = request.app.state.revoked_sessions
    revoked.revoke(subscriber.session_id)
    if everywhere:
        _pool(request).sign_out_everywhere(subscriber.access_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@profiles_router.get("", response_model=list[Profile])
def list_profiles(request: Request, subscriber: CurrentSubscriber) -> list[Profile]:
    return _profiles(request).list(subscriber.account_id)


@profiles_router.post("", status_code=status.HTTP_201_CREATED, response_model=Profile)
def create_profile(request: Request, subscriber: CurrentSubscriber, body: ProfileCreate) -> Profile:
    return _profiles(request).create(account_id=subscriber.account_id, profile=body)


@profiles_router.get("/{profile_id}", response_model=Profile)
def get_profile(
    request: Request, subscriber: CurrentSubscriber, profile_id: ProfileIdPath
) -> Profile:
    return _profiles(request).get(account_id=subscriber.account_id, profile_id=profile_id)


@profiles_router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_profile(
    request: Request, subscriber: CurrentSubscriber, profile_id: ProfileIdPath
) -> Response:
    _profiles(request).delete(account_id=subscriber.account_id, profile_id=profile_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
