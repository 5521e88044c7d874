"""Errors of the saved-card routes and of paying with (or saving) a saved card, each with its HTTP status and
stable machine code."""

from __future__ import annotations

from app.core.errors import AppError


class SavedCardsDisabled(AppError):
    status_code = 409
    code = "saved_cards_disabled"
    message = "Saved cards are off (SAVED_CARDS_ENABLED, with SAVED_CARDS_ENCRYPTION_KEYS)."


class CustomerNotRegistered(AppError):
    status_code = 422
    code = "customer_not_registered"
    message = "No registered Medusa customer (has_account) has this id."


class AccountHolderNotFound(AppError):
    status_code = 404
    code = "account_holder_not_found"
    message = "No such account holder."


class SavedCardNotFound(AppError):
    """Unknown, deleted, another customer's or another sales channel's: the caller must not learn which."""

    status_code = 404
    code = "saved_card_not_found"
    message = "No such saved card for this customer."


class SavedCardExpired(AppError):
    status_code = 422
    code = "saved_card_expired"
    message = "The saved card has expired: pay with a card typed in the payment fields."


class SaveCardRequiresAccount(AppError):
    status_code = 422
    code = "save_card_requires_account"
    message = "Only a signed-in customer's cart (a Medusa customer with an account) may save or use a card."


class SavedCardNoConsent(AppError):
    status_code = 409
    code = "saved_card_no_consent"
    message = (
        "The saved card has no recorded initial customer-initiated payment: the merchant may not charge it."
    )


class IdempotencyKeyRequired(AppError):
    status_code = 428
    code = "idempotency_key_required"
    message = "A merchant-initiated charge needs an Idempotency-Key header: a retry must never charge twice."
