"""Billing routes; money-moving ones require an Idempotency-Key header."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from control_plane.auth.deps import CurrentSubscriber
from control_plane.billing import service
from control_plane.billing.entitlement import Entitlement
from control_plane.billing.idempotency import KEY_PATTERN, StoredAnswer
from control_plane.billing.ledger import LedgerEntry
from control_plane.billing.plans import Plan
from control_plane.billing.service import Billing
from control_plane.billing.subscriptions import Subscription
from control_plane.common.app_factory import ErrorBody
from control_plane.common.errors import NotFound

router = APIRouter(prefix="/billing", tags=["billing"])
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="A fresh random key per intended charge; resend it on retries.",
    ),
]
_MONEY_ERRORS: dict[int | str, dict[str, object]] = {
    402: {"model": ErrorBody, "description": "The payment was declined."},
    409: {"model": ErrorBody, "description": "Conflicting state or a retry still running."},
    503: {"model": ErrorBody, "description": "Retry with the same Idempotency-Key."},
}


class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: str = Field(max_length=31)
    payment_method: str = Field(
        pattern=r"^pm_[A-Za-z0-9_]{1,64}$",
        description="A provider payment-method token; the test provider declines "
        "'pm_test_decline' and times out on 'pm_test_timeout'.",
    )


class ChangePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: str = Field(max_length=31)


def _billing(request: Request) -> Billing:
    billing: Billing = request.app.state.billing
    return billing


def _respond(answer: StoredAnswer) -> JSONResponse:
    return JSONResponse(status_code=answer.status_code, content=answer.body)


@router.get("/plans", response_model=list[Plan])
def list_plans(request: Request, _: CurrentSubscriber) -> list[Plan]:
    return list(_billing(request).settings.plans)


@router.get("/subscription", response_model=Subscription)
def get_subscription(request: Request, subscriber: CurrentSubscriber) -> Subscription:
    sub = _billing(request).subscriptions.get(subscriber.account_id)
    if sub is None:
        raise NotFound("this account has no subscription; subscribe first")
    return sub


@router.post("/subscription", status_code=201, response_model=Subscription, responses=_MONEY_ERRORS)
def subscribe(
    request: Request, subscriber: CurrentSubscriber, body: SubscribeRequest, key: IdempotencyKey
) -> JSONResponse:
    return _respond(
        service.subscribe(
            _billing(request),
            account_id=subscriber.account_id,
            plan_id=body.plan_id,
            payment_method=body.payment_method,
            idempotency_key=key,
        )
    )


@router.put("/subscription/plan", response_model=Subscription, responses=_MONEY_ERRORS)
def change_plan(
    request: Request, subscriber: CurrentSubscriber, body: ChangePlanRequest, key: IdempotencyKey
) -> JSONResponse:
    return _respond(
        service.change_plan(
            _billing(request),
            account_id=subscriber.account_id,
            plan_id=body.plan_id,
            idempotency_key=key,
        )
    )


@router.delete("/subscription", response_model=Subscription)
def cancel(request: Request, subscriber: CurrentSubscriber) -> Subscription:
    return service.cancel(_billing(request), account_id=subscriber.account_id)


@router.get("/entitlement", response_model=Entitlement)
def get_entitlement(request: Request, subscriber: CurrentSubscriber) -> Entitlement:
    return service.entitlement(_billing(request), account_id=subscriber.account_id)


@router.get("/ledger", response_model=list[LedgerEntry])
def get_ledger(request: Request, subscriber: CurrentSubscriber) -> list[LedgerEntry]:
    return _billing(request).ledger.entries(subscriber.account_id)
