"""The 3-D Secure stage of a payment (``payment_state.THREEDS_NEXT``): the one place a stage changes, what
a stage answers the storefront, and the authentications left waiting past NetValve's window."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from app.gateway import GatewayResult, ThreeDSKind, ThreeDSStep
from app.models import Payment, PaymentStatus, ThreeDSStage
from app.repositories.threeds import ThreeDSRepository
from app.schemas.payment import NextAction, PayActionResponse, PayResponse
from app.services import errors
from app.services.ledger import Ledger, transition
from app.services.payment_state import THREEDS_OPEN, THREEDS_WAITING, threeds_may_move
from app.services.views import Answer, paid_answer, pay_response

logger = logging.getLogger(__name__)

ABANDONED_CODE = "abandoned"
AMOUNT_CHANGED_CODE = "amount_changed"
CART_COMPLETED_CODE = "cart_completed"
REPLACED_CODE = "replaced"
SESSION_GONE_CODE = "session_gone"
_ACTION_TYPES = {
    ThreeDSStage.CHALLENGE: "threeds_challenge",
    ThreeDSStage.DEVICE_DATA: "threeds_device_data",
}
_STAGE_OF = {
    ThreeDSKind.AUTHENTICATED: ThreeDSStage.AUTHENTICATED,
    ThreeDSKind.CHALLENGE: ThreeDSStage.CHALLENGE,
    ThreeDSKind.DEVICE_DATA: ThreeDSStage.DEVICE_DATA,
    ThreeDSKind.FAILED: ThreeDSStage.FAILED,
}


def stage_of(payment: Payment) -> ThreeDSStage | None:
    return ThreeDSStage(payment.threeds_stage) if payment.threeds_stage else None


def move(payment: Payment, target: ThreeDSStage | None, code: str | None = None) -> None:
    """Move the payment's authentication to ``target`` (the one place a stage changes)."""
    current = stage_of(payment)
    if not threeds_may_move(current, target):
        raise errors.InvalidTransition(details={"threeds_stage": current, "to": target})
    payment.threeds_stage = target
    payment.threeds_code = code
    payment.threeds_started_at = datetime.now(UTC)
    if target not in THREEDS_WAITING:
        payment.threeds_url = None
    if target is ThreeDSStage.FAILED:
        transition(payment, PaymentStatus.ERROR)
        payment.last_response_code = code
    elif target is not None:
        transition(payment, PaymentStatus.REQUIRES_MORE)


def action_answer(payment: Payment) -> Answer[PayResponse]:
    """The payment's answer while the shopper's browser has something to do: ``requires_more`` and what."""
    stage = stage_of(payment)
    assert stage in _ACTION_TYPES
    assert payment.threeds_url is not None
    action = NextAction(
        type=_ACTION_TYPES[stage],
        url=payment.threeds_url,
        # Device data is always collected in a hidden frame; only the challenge may take the whole page.
        mode="redirect" if payment.threeds_redirect and stage is ThreeDSStage.CHALLENGE else "frame",
    )
    body = PayActionResponse(**pay_response(payment).model_dump(), next_action=action)
    return Answer(body, is_open=False)


def abandoned(payment: Payment, window: timedelta) -> bool:
    started = payment.threeds_started_at
    return stage_of(payment) in THREEDS_OPEN and started is not None and started < datetime.now(UTC) - window


async def expire_abandoned(ledger: Ledger, limit: int) -> int:
    """Fail the authentications left open past NetValve's window; each cart is payable again."""
    window = timedelta(seconds=ledger.settings.netvalve_threeds_window_seconds)
    async with ledger.sessionmaker.begin() as db:
        ids = await ThreeDSRepository(db).open_before(datetime.now(UTC) - window, limit)
    expired = 0
    for payment_id in ids:
        async with ledger.locked(payment_id) as locked:
            if abandoned(locked.payment, window):
                move(locked.payment, ThreeDSStage.FAILED, ABANDONED_CODE)
                expired += 1
    if expired:
        logger.info("3-D Secure authentications abandoned", extra={"count": expired})
    return expired


def record(payment: Payment, step: ThreeDSStep, result: GatewayResult[Any]) -> None:
    """What a 3DS answer moves the payment's authentication to (an unanswered call moves nothing but
    ``initializing``)."""
    if step.kind is ThreeDSKind.UNANSWERED:
        if stage_of(payment) is ThreeDSStage.INITIALIZING:
            # Nothing was authenticated and nothing charged: the next /payment starts again.
            move(payment, None, result.code)
        else:
            payment.threeds_code = result.code
        return
    if step.kind is ThreeDSKind.WAITING:
        # Asked before the shopper finished: the stage, its URL and its window stand.
        payment.threeds_code = step.code
        return
    target = _STAGE_OF[step.kind]
    if target is stage_of(payment):
        # Asked too early (the challenge is still unanswered): the stage, and its window, stand.
        payment.threeds_code = step.code
    else:
        move(payment, target, step.code)
    payment.threeds_transaction_id = step.transaction_id or payment.threeds_transaction_id
    if step.kind in (ThreeDSKind.CHALLENGE, ThreeDSKind.DEVICE_DATA):
        payment.threeds_url = step.url


def busy(payment: Payment, stale: timedelta) -> bool:
    """Another request is at work on this authentication: initializing it, or about to send the sale it
    authenticated. Past the longest a call can take, that request has died and no longer counts."""
    stage = stage_of(payment)
    about_to_sell = (
        stage is ThreeDSStage.AUTHENTICATED
        and PaymentStatus(payment.status) is PaymentStatus.REQUIRES_MORE
        and payment.operation_in_flight is None
    )
    started = payment.threeds_started_at
    young = started is not None and started >= datetime.now(UTC) - stale
    return (stage is ThreeDSStage.INITIALIZING or about_to_sell) and young


def settled(payment: Payment, stale: timedelta) -> Answer[PayResponse]:
    """The answer the authentication already has: what a repeated finish returns."""
    stage = stage_of(payment)
    if stage in THREEDS_WAITING:
        return action_answer(payment)
    if busy(payment, stale):
        raise errors.OperationInProgress()
    if stage is ThreeDSStage.FAILED and PaymentStatus(payment.status) is PaymentStatus.ERROR:
        raise errors.ThreeDSFailed()
    if PaymentStatus(payment.status) is PaymentStatus.ERROR:
        raise errors.CardDeclined()
    if PaymentStatus(payment.status) is PaymentStatus.REQUIRES_MORE:
        # Authenticated, but the sale never reached NetValve: the proof is not kept, so start again.
        raise errors.ThreeDSNotStarted()
    return paid_answer(payment)
