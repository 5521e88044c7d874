"""NetValve's response and webhook shapes built from ledger state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from netvalve_sandbox.settings import SandboxSettings
from netvalve_sandbox.state import Chargeback, GatewayToken, Ledger, Order, Transaction, TxType
from netvalve_sandbox.wire import api_timestamp, money, new_trace_id, webhook_timestamp

WEBHOOK_CLIENT_ID = 1
WEBHOOK_CALLBACK_CONFIGURATION_ID = 1
EVENT_NAMES: dict[TxType, tuple[str, str, str]] = {
    TxType.SALE: ("PURCHASED", "PURCHASE_FAILED", "PURCHASE_PENDING"),
    TxType.AUTHORIZATION: ("AUTHORISED", "AUTHORISATION_FAILED", "AUTHORISATION_PENDING"),
    TxType.CAPTURE: ("CAPTURED", "CAPTURE_FAILED", "CAPTURE_PENDING"),
    TxType.REFUND: ("REFUNDED", "REFUND_FAILED", "REFUND_PENDING"),
    TxType.CANCEL: ("CANCELLED", "CANCELLATION_FAILED", "CANCELLATION_PENDING"),
}


def event_name(txn: Transaction) -> str:
    approved, failed, pending = EVENT_NAMES[txn.type]
    if txn.outcome.pending:
        return pending
    return approved if txn.outcome.approved else failed


def _merchant_ids(txn: Transaction, settings: SandboxSettings) -> dict[str, Any]:
    """Echo what the merchant sent; fill the MID the way smart routing would pick one."""
    routing = txn.routing
    return {
        "midId": routing.mid_id if routing.mid_id is not None else settings.mid_id,
        "netvalveMidId": routing.netvalve_mid_id or settings.netvalve_mid_id,
        "siteId": routing.site_id,
    }


def transaction_response(
    txn: Transaction, ledger: Ledger, settings: SandboxSettings, moment: datetime
) -> dict[str, Any]:
    """`TransactionResponseDTO`; `transactionStatus` and `referenceTransactionID` are sandbox additions."""
    card = txn.card
    return {
        "traceID": txn.trace_id,
        "responseTimestamp": api_timestamp(moment),
        "transactionID": txn.id,
        "orderId": txn.order_id,
        "responseCode": txn.outcome.code,
        "responseMessage": txn.outcome.message,
        "responseCodeType": txn.outcome.code_type,
        "bankResponseCode": txn.outcome.bank_code,
        "bankResponseMessage": txn.outcome.bank_message,
        "transactionType": txn.type.value,
        "amount": txn.amount,
        "currency": txn.currency,
        "clientOrderId": txn.client_order_id,
        "paymentMethod": "CARD",
        "paymentChannelType": txn.channel.value,
        "cardNumber": card.masked if card else None,
        "cardType": card.brand if card else None,
        "cardExpiryMonth": card.expiry_month if card else None,
        "cardExpiryYear": card.expiry_year if card else None,
        "authCode": txn.auth_code,
        "bankTransactionId": txn.bank_transaction_id,
        **_merchant_ids(txn, settings),
        "paymentToken": txn.payment_token,
        "paymentTokenType": txn.payment_token_type,
        "referenceTransactionID": txn.parent_id,
        "transactionStatus": ledger.status(txn),
    }


def created_token(issued: GatewayToken, moment: datetime) -> dict[str, Any]:
    """`/createToken` without `verify`: NetValve's minimal body, no transaction and no card details."""
    return {
        "traceID": new_trace_id(),
        "responseTimestamp": api_timestamp(moment),
        "responseCode": "GTW_1000",
        "paymentToken": issued.token,
        "paymentTokenType": "GATEWAY_TOKEN",
    }


def token_entry(issued: GatewayToken) -> dict[str, Any]:
    """Sandbox inspection row of a gateway token: the masked card only."""
    return {
        "paymentToken": issued.token,
        "paymentTokenType": "GATEWAY_TOKEN",
        "cardNumber": issued.card.masked,
        "cardType": issued.card.brand,
        "cardExpiryMonth": issued.card.expiry_month,
        "cardExpiryYear": issued.card.expiry_year,
        "issuedBy": issued.issued_by,
        "transactionID": issued.transaction_id,
        "citTransactionIDs": list(issued.cit_transaction_ids),
        "createdAt": api_timestamp(issued.created_at),
    }


def transaction_short(txn: Transaction, ledger: Ledger) -> dict[str, Any]:
    return {
        "netvalveID": txn.id,
        "transactionType": txn.type.value,
        "status": ledger.status(txn),
        "amount": txn.amount,
        "currency": txn.currency,
        "clientOrderId": txn.client_order_id,
        "responseCode": txn.outcome.code,
        "responseMessage": txn.outcome.message,
        "responseCodeType": txn.outcome.code_type,
        "transactionReference": txn.parent_id,
        "createdDate": api_timestamp(txn.created_at),
    }


def transaction_output(txn: Transaction, ledger: Ledger, settings: SandboxSettings) -> dict[str, Any]:
    """`TransactionOutputDTO`-like detail for `GET /transaction?id=`."""
    card = txn.card
    related = [ledger.transactions[child_id] for child_id in txn.children]
    refunded = ledger.refunded(ledger.refund_target(txn) or txn)
    return {
        "netvalveID": txn.id,
        "orderId": txn.order_id,
        "status": ledger.status(txn),
        "createdDate": api_timestamp(txn.created_at),
        "transactionType": txn.type.value,
        "amount": txn.amount,
        "currency": txn.currency,
        "clientOrderId": txn.client_order_id,
        "responseCode": txn.outcome.code,
        "responseMessage": txn.outcome.message,
        "responseCodeType": txn.outcome.code_type,
        "bankResponseCode": txn.outcome.bank_code,
        "bankResponseMessage": txn.outcome.bank_message,
        "authCode": txn.auth_code,
        "bankTransactionId": txn.bank_transaction_id,
        "cardNumber": card.masked if card else None,
        "cardType": card.brand if card else None,
        "brand": card.brand if card else None,
        "cardholderName": card.holder if card else None,
        "sourceOfTransaction": txn.channel.value,
        **_merchant_ids(txn, settings),
        "transactionReference": txn.parent_id,
        "allowedActions": ledger.allowed_actions(txn),
        "refundBalancedAmount": ledger.refundable(txn),
        "isPartialRefund": refunded > 0 and ledger.refundable(txn) > 0,
        "isPartialRefundAllowed": True,
        "transactions": [transaction_short(child, ledger) for child in related],
        "transactionReferencedList": [transaction_short(child, ledger) for child in related],
        "chargebackData": [chargeback_data(chargeback, txn) for chargeback in txn.chargebacks],
    }


def chargeback_data(chargeback: Chargeback, txn: Transaction) -> dict[str, Any]:
    """One entry of `chargebackData[]`: NetValve documents the array, not its fields; these are the
    webhook's own names plus the dispute desk's id and date (README, "Disputes and chargebacks")."""
    return {
        "chargebackId": chargeback.id,
        "chargebackTransactionType": chargeback.type,
        "chargebackSource": chargeback.source,
        "amount": chargeback.amount,
        "currency": txn.currency,
        "chargebackDate": api_timestamp(chargeback.created_at),
    }


def order_output(order: Order, ledger: Ledger) -> dict[str, Any]:
    """`OrderOutputDTO`-like order with every transaction that belongs to it."""
    state = ledger.order_state(order)
    return {
        "id": order.id,
        "clientOrderId": order.client_order_id,
        "orderAmount": order.amount,
        "currency": order.currency,
        "orderDesc": order.description,
        "orderState": state,
        "hppOrderStatus": state,
        "createdDate": api_timestamp(order.created_at),
        "lastUpdatedDate": api_timestamp(order.updated_at or order.created_at),
        "transactions": [
            transaction_short(ledger.transactions[txn_id], ledger) for txn_id in order.transaction_ids
        ],
    }


def ledger_entry(txn: Transaction, ledger: Ledger) -> dict[str, Any]:
    """Sandbox inspection row; amounts are strings so tests compare them exactly."""
    return {
        "transactionID": txn.id,
        "orderId": txn.order_id,
        "type": txn.type.value,
        "parentID": txn.parent_id,
        "amount": money(txn.amount),
        "currency": txn.currency,
        "clientOrderId": txn.client_order_id,
        "state": ledger.status(txn),
        "responseCode": txn.outcome.code,
        "channel": txn.channel.value,
        "paymentType": txn.payment_type,
        "routing": txn.routing.describe(),
        "refundable": money(ledger.refundable(txn)),
        "createdAt": api_timestamp(txn.created_at),
        "threeDS": txn.three_ds,
        "additionalData": txn.additional_data,
    }


def webhook_body(txn: Transaction, settings: SandboxSettings, moment: datetime) -> dict[str, Any]:
    """NetValve's webhook: `transactionId` with a lower-case d, `orderId` as a string, naive timestamp."""
    card = txn.card
    ids = _merchant_ids(txn, settings)
    return {
        "eventName": event_name(txn),
        "data": {
            "transactionType": txn.type.value,
            "clientOrderId": txn.client_order_id,
            "orderId": str(txn.order_id),
            "traceId": txn.trace_id,
            "midId": ids["midId"],
            "netvalveMidId": ids["netvalveMidId"],
            "responseTimestamp": webhook_timestamp(moment),
            "transactionId": txn.id,
            "responseCode": txn.outcome.code,
            "responseMessage": txn.outcome.message,
            "responseCodeType": txn.outcome.code_type,
            "amount": txn.amount,
            "clientId": WEBHOOK_CLIENT_ID,
            "callbackConfigurationId": WEBHOOK_CALLBACK_CONFIGURATION_ID,
            "paymentType": txn.payment_type,
            "cardNumber": card.masked if card else "",
            "cardType": card.brand if card else "",
            "bankTransactionId": txn.bank_transaction_id or "",
            "authCode": txn.auth_code or "",
            "cardExpiryMonth": card.expiry_month if card else "",
            "cardExpiryYear": card.expiry_year if card else "",
            "paymentToken": "",
            "siteId": ids["siteId"] or "",
            "paymentTokenType": txn.payment_token_type or "",
        },
    }


def chargeback_body(
    txn: Transaction, chargeback: Chargeback, settings: SandboxSettings, moment: datetime
) -> dict[str, Any]:
    """`CHARGEBACK` on a transaction: its webhook body, the dispute's type and source, a trace of its own."""
    body = webhook_body(txn, settings, moment)
    body["eventName"] = "CHARGEBACK"
    body["data"] |= {
        "traceId": new_trace_id(),
        "amount": chargeback.amount,
        "chargebackTransactionType": chargeback.type,
        "chargebackSource": chargeback.source,
    }
    return body
