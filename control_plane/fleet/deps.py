"""FastAPI dependencies of the fleet routes: the context, the operator, the calling appliance."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from control_plane.fleet.auth import check_admin, parse_appliance_authorization
from control_plane.fleet.context import FleetContext
from control_plane.fleet.models import ID_PATTERN, Appliance
from control_plane.fleet.registry import authenticate


def _context(request: Request) -> FleetContext:
    context: FleetContext = request.app.state.fleet
    return context


Context = Annotated[FleetContext, Depends(_context)]
PathId = Annotated[str, Path(pattern=ID_PATTERN, max_length=63)]


def _admin(context: Context, authorization: Annotated[str | None, Header()] = None) -> None:
    check_admin(authorization, admin_token=context.settings.admin_token)


def _appliance(
    context: Context,
    appliance_id: PathId,
    authorization: Annotated[str | None, Header()] = None,
) -> Appliance:
    presented = parse_appliance_authorization(authorization)
    return authenticate(context.store, presented=presented, appliance_id=appliance_id)


AdminAccess = Depends(_admin)
CallingAppliance = Annotated[Appliance, Depends(_appliance)]
