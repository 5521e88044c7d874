"""Account holders and saved cards (service key): what Medusa's account-holder and payment-method calls of
the NetValve provider ask for, and the charges the merchant starts on a saved card."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.auth import ServiceAuth
from app.api.idempotency import IDEMPOTENCY_ERRORS, run_idempotent
from app.api.v1.endpoints.netvalve.deps import ServiceDep, answer_response
from app.core.errors import DatabaseUnavailable, Forbidden, MalformedBody, Unauthenticated, responses_for
from app.schemas.payment import PayResponse
from app.schemas.saved_cards import (
    AccountHolderDeleted,
    AccountHolderRequest,
    AccountHolderResponse,
    AccountHolderUpdate,
    MerchantChargeRequest,
    SavedCardDeleted,
    SavedCardList,
)
from app.services import errors
from app.services import saved_card_errors as vault_errors

router = APIRouter()

# Every route here: the service key's refusals, and a database that does not answer.
_SERVICE_KEY = (Unauthenticated, Forbidden, DatabaseUnavailable)
_HOLDER_ERRORS = responses_for(
    *_SERVICE_KEY, MalformedBody, vault_errors.SavedCardsDisabled, vault_errors.AccountHolderNotFound
)


@router.post(
    "/account-holders",
    response_model=AccountHolderResponse,
    responses=responses_for(
        *_SERVICE_KEY, MalformedBody, vault_errors.SavedCardsDisabled, vault_errors.CustomerNotRegistered
    ),
)
async def create_account_holder(
    body: AccountHolderRequest, service: ServiceDep, caller: ServiceAuth
) -> AccountHolderResponse:
    """The registered customer's account holder: the existing one when it has one (Medusa issue #15593)."""
    return await service.vault.create_holder(body.customer_id, body.email)


@router.get("/account-holders/{holder_id}", response_model=AccountHolderResponse, responses=_HOLDER_ERRORS)
async def get_account_holder(
    holder_id: str, service: ServiceDep, caller: ServiceAuth
) -> AccountHolderResponse:
    return await service.vault.get_holder(holder_id)


@router.patch("/account-holders/{holder_id}", response_model=AccountHolderResponse, responses=_HOLDER_ERRORS)
async def update_account_holder(
    holder_id: str, body: AccountHolderUpdate, service: ServiceDep, caller: ServiceAuth
) -> AccountHolderResponse:
    return await service.vault.update_holder(holder_id, body.email)


@router.delete("/account-holders/{holder_id}", response_model=AccountHolderDeleted, responses=_HOLDER_ERRORS)
async def delete_account_holder(
    holder_id: str, service: ServiceDep, caller: ServiceAuth
) -> AccountHolderDeleted:
    """Delete the holder and its saved cards (our vault rows: NetValve keeps no customer to delete)."""
    return AccountHolderDeleted(id=holder_id, cards_deleted=await service.vault.delete_holder(holder_id))


@router.get("/account-holders/{holder_id}/cards", response_model=SavedCardList, responses=_HOLDER_ERRORS)
async def list_saved_cards(holder_id: str, service: ServiceDep, caller: ServiceAuth) -> SavedCardList:
    """The holder's live cards, masked as NetValve masked them; never a token."""
    return SavedCardList(cards=await service.vault.cards(holder_id))


@router.delete(
    "/saved-cards/{card_id}",
    response_model=SavedCardDeleted,
    responses=responses_for(*_SERVICE_KEY, vault_errors.SavedCardsDisabled, vault_errors.SavedCardNotFound),
)
async def delete_saved_card(card_id: str, service: ServiceDep, caller: ServiceAuth) -> SavedCardDeleted:
    """Delete the card: its token is erased at once, the row goes with the retention pass."""
    await service.vault.delete_card(card_id)
    return SavedCardDeleted(id=card_id)


@router.post(
    "/saved-cards/{card_id}/charges",
    response_model=PayResponse,
    # Read by ``run_idempotent`` itself (a missing key is 428, not a validation error): stated for the schema.
    openapi_extra={
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
            }
        ]
    },
    responses={
        202: {"model": PayResponse, "description": "Outcome pending or unknown; reconciliation settles it"},
        **responses_for(
            *_SERVICE_KEY,
            MalformedBody,
            vault_errors.SavedCardsDisabled,
            vault_errors.SavedCardNotFound,
            vault_errors.SavedCardExpired,
            vault_errors.SavedCardNoConsent,
            vault_errors.IdempotencyKeyRequired,
            errors.PaymentCollectionNotFound,
            errors.PaymentCollectionPaid,
            errors.PaymentCollectionCanceled,
            errors.PaymentSessionMissing,
            errors.PaymentAmountMismatch,
            errors.OperationInProgress,
            errors.PaymentAttemptsExceeded,
            errors.CardDeclined,
            errors.GatewayRejected,
            errors.GatewayUnavailable,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def charge_saved_card(
    card_id: str, body: MerchantChargeRequest, request: Request, service: ServiceDep, caller: ServiceAuth
) -> Response:
    """A merchant-initiated charge of the card for what the collection owes (Medusa's amount, never the
    caller's); Medusa hears the outcome through the outbox like any payment. ``Idempotency-Key`` required."""

    async def handler(key: str | None) -> Response:
        if key is None:
            raise vault_errors.IdempotencyKeyRequired()
        return answer_response(
            await service.saved_card_charges.merchant_charge(card_id, body.payment_collection_id, key)
        )

    return await run_idempotent(request, f"saved-card-charge:{caller.key_id}:{card_id}", handler)
