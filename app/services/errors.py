"""Domain errors of the payment routes, each with its HTTP status and stable machine code."""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError, DatabaseUnavailable, Forbidden, Unauthenticated, UnprocessableRequest
from app.gateway import GatewayResult, Outcome, UnsendableRequest


class CartNotFound(AppError):
    status_code = 404
    code = "cart_not_found"
    message = "No such cart in Medusa."


class PaymentCollectionNotFound(AppError):
    status_code = 404
    code = "payment_collection_not_found"
    message = (
        "No such payment collection of an order in Medusa (a collection a cart holds is paid with cart_id)."
    )


class PaymentSessionNotFound(AppError):
    status_code = 404
    code = "payment_session_not_found"
    message = "No such NetValve payment session for this cart or payment collection."


class PaymentNotFound(AppError):
    status_code = 404
    code = "payment_not_found"
    message = "No NetValve payment matches these identifiers."


class CartAlreadyPaid(AppError):
    status_code = 409
    code = "cart_already_paid"
    message = "The cart is paid; complete it instead of starting a new payment."


class CartCompleted(AppError):
    status_code = 409
    code = "cart_completed"
    message = "The cart is already completed."


class PaymentCollectionPaid(AppError):
    status_code = 409
    code = "payment_collection_paid"
    message = "The payment collection is paid already."


class PaymentCollectionCanceled(AppError):
    status_code = 409
    code = "payment_collection_canceled"
    message = "The payment collection (or its order) is canceled: there is nothing to pay."


class PaymentCollectionMissing(AppError):
    status_code = 409
    code = "payment_collection_missing"
    message = "The cart has no payment collection, so there is no amount to charge."


class PaymentSessionMissing(AppError):
    status_code = 409
    code = "payment_session_missing"
    message = (
        "The payment collection has no NetValve payment session: create one in Medusa first "
        "(POST /store/payment-collections/{id}/payment-sessions); Medusa hears the payment through it."
    )


class CurrencyNotConfigured(AppError):
    status_code = 422
    code = "currency_not_configured"
    message = "No NetValve merchant account (MID or site id) is configured for this currency."


class InvalidTransition(AppError):
    status_code = 409
    code = "invalid_transition"
    message = "The payment's status does not allow this operation."


class AuthorizationExpired(AppError):
    status_code = 409
    code = "authorization_expired"
    message = (
        "The authorization is no longer held (the issuer released it, or it was voided near expiry): "
        "nothing can be captured; take a new payment."
    )


class PaymentDisputed(AppError):
    status_code = 409
    code = "payment_disputed"
    message = (
        "The payment is disputed (a chargeback took the money back): it cannot be refunded; "
        "resolve the dispute with NetValve."
    )


class PaymentNotDisputed(AppError):
    status_code = 409
    code = "payment_not_disputed"
    message = "The payment holds no dispute to clear."


class OperationInProgress(AppError):
    status_code = 409
    code = "operation_in_progress"
    message = "Another operation on this payment is still running."


class PaymentCapturedUseRefund(AppError):
    status_code = 409
    code = "payment_captured_use_refund"
    message = "The payment is captured and cannot be cancelled: refund it instead."


class PaymentTokenCartMismatch(AppError):
    status_code = 409
    code = "payment_token_cart_mismatch"
    message = "This payment token was issued for another cart or payment collection."


class CaptureExceedsAuthorized(AppError):
    status_code = 422
    code = "capture_exceeds_authorized"
    message = "The capture amount is more than the authorized amount not yet captured."


class RefundExceedsCaptured(AppError):
    status_code = 422
    code = "refund_exceeds_captured"
    message = "The refund amount is more than the captured amount not yet refunded."


class InvalidAmount(AppError):
    status_code = 422
    code = "invalid_amount"
    message = "The amount is not valid for this currency."


class CardDeclined(AppError):
    """What a storefront hears of any decline: the bank's code stays in the ledger (``/status``, service key),
    so that a card tester learns nothing but "declined"."""

    status_code = 402
    code = "card_declined"
    message = "The card was declined."


class ThreeDSFailed(AppError):
    status_code = 402
    code = "threeds_failed"
    message = "The card could not be authenticated (3-D Secure). No money was taken; try another card."


class ThreeDSNotStarted(AppError):
    status_code = 409
    code = "threeds_not_started"
    message = "This cart has no 3-D Secure authentication waiting to be finished."


class BrowserDataRequired(AppError):
    status_code = 422
    code = "browser_data_required"
    message = "3-D Secure needs the shopper's browser data: send 'browser' with the payment."


class ThreeDSReturnUrlNotAllowed(AppError):
    status_code = 422
    code = "threeds_return_url_not_allowed"
    message = "threeds_return_url must be an absolute URL on one of the storefront origins (STORE_CORS)."


class ThreeDSTokenMismatch(AppError):
    status_code = 409
    code = "threeds_token_mismatch"
    message = "This payment token is not the one the 3-D Secure authentication began with."


class OperationDeclined(AppError):
    status_code = 402
    code = "operation_declined"
    message = "NetValve declined the operation."


class InvalidPaymentToken(AppError):
    status_code = 422
    code = "invalid_payment_token"
    message = (
        "NetValve did not accept the payment token (unknown, expired or already used); "
        "start a new HPF session and enter the card again."
    )


class GatewayRejected(AppError):
    status_code = 502
    code = "gateway_rejected"
    message = "NetValve rejected the request."


class HpfSessionUnavailable(AppError):
    status_code = 502
    code = "hpf_session_unavailable"
    message = "No way to collect the card could be set up; the service's log names the steps that failed."


class GatewayUnavailable(AppError):
    status_code = 503
    code = "gateway_unavailable"
    message = "NetValve cannot be reached right now; nothing was charged. Retry later."


MONEY_OPERATION_ERRORS: tuple[type[AppError], ...] = (
    Unauthenticated,
    Forbidden,
    UnprocessableRequest,
    PaymentNotFound,
    InvalidTransition,
    OperationInProgress,
    OperationDeclined,
    GatewayRejected,
    GatewayUnavailable,
    DatabaseUnavailable,
)


class CurrencyNotSupported(AppError):
    status_code = 422
    code = "currency_not_supported"
    message = "NetValve takes amounts with at most two decimals; this currency has more."


class PaymentAmountMismatch(AppError):
    status_code = 409
    code = "payment_amount_mismatch"
    message = (
        "The cart's (or payment collection's) amount in Medusa is no longer the amount this payment was made "
        "for."
    )


class TransactionIdNotForStorefront(Forbidden):
    code = "transaction_id_not_allowed"
    message = "A storefront names its cart or payment session, not a NetValve transaction id."


class PaymentAttemptsExceeded(AppError):
    status_code = 429
    code = "payment_attempts_exceeded"
    message = (
        "This cart (or payment collection) has made as many payment attempts as it may; start a new checkout."
    )

    def __init__(self, per: str, limit: int) -> None:
        super().__init__(details={"per": per, "limit": limit})


class InvalidPaymentRequest(AppError):
    status_code = 422
    code = "invalid_payment_request"
    message = "The cart holds data NetValve cannot take; nothing was charged."

    @classmethod
    def naming(cls, exc: UnsendableRequest) -> InvalidPaymentRequest:
        """The error naming the request fields NetValve would not take (never their values)."""
        return cls(details={"fields": exc.fields})


# Errors whose text or details say what a storefront must not learn: NetValve's codes and messages (a card
# tester's oracle), the ledger's amounts, the merchant routing. A storefront hears their code and fixed
# message only; the ledger and the log keep the rest, and a service key still hears it whole.
_OPAQUE_TO_STOREFRONT: tuple[type[AppError], ...] = (
    GatewayRejected,
    InvalidPaymentToken,
    PaymentAmountMismatch,
    CurrencyNotConfigured,
)


def for_storefront(exc: AppError) -> AppError:
    """``exc`` as a storefront may hear it: the same error with its fixed message and no details."""
    if type(exc) not in _OPAQUE_TO_STOREFRONT:
        return exc
    return type(exc)(headers=exc.headers)


def raise_if_nothing_happened(result: GatewayResult[Any]) -> None:
    """The error for an answer after which NetValve certainly did nothing."""
    if not result.request_sent or result.outcome is Outcome.RATE_LIMITED:
        headers = {"Retry-After": str(int(result.retry_after))} if result.retry_after else None
        raise GatewayUnavailable(headers=headers)
    if result.nothing_happened:
        raise GatewayRejected(result.message, details={"response_code": result.code})
