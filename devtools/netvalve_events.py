"""NetValve webhook bodies as NetValve sends them, for the tests and the benchmark."""

from __future__ import annotations

import copy
from typing import Any

# The documented example (netvalve-api.md section 9), verbatim apart from the elided trace id.
DOC_EXAMPLE: dict[str, Any] = {
    "eventName": "PURCHASED",
    "data": {
        "transactionType": "SALE",
        "clientOrderId": "XXXXXXX",
        "orderId": "111223",
        "traceId": "8e86fd12-5b6c-4e55-9d1e-0c1f6f3c2a10",
        "midId": 111,
        "netvalveMidId": "",
        "responseTimestamp": "2025-10-30T06:52:46.440287045",
        "transactionId": 12334,
        "responseCode": "GTW_1000",
        "responseMessage": "Transaction Approved/ Request Successful.",
        "responseCodeType": "APPROVED",
        "amount": 10.99,
        "clientId": 123,
        "callbackConfigurationId": 123,
        "paymentType": "CARD",
        "cardNumber": "555555******1234",
        "cardType": "MASTERCARD",
        "bankTransactionId": "1234356",
        "authCode": "135226",
        "cardExpiryMonth": "01",
        "cardExpiryYear": "2029",
        "paymentToken": "",
        "siteId": "",
        "paymentTokenType": "",
    },
}


def event_body(
    name: str = "PURCHASED",
    *,
    transaction_id: int | None = 12334,
    client_order_id: str | None = "XXXXXXX",
    trace_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    body = copy.deepcopy(DOC_EXAMPLE)
    body["eventName"] = name
    body["data"]["transactionId"] = transaction_id
    body["data"]["clientOrderId"] = client_order_id
    body["data"]["traceId"] = trace_id or f"trace-{name}-{transaction_id}"
    if name.endswith("_FAILED"):
        body["data"] |= {"responseCode": "BNK_2011", "responseCodeType": "SOFT DECLINE"}
    if name == "CHARGEBACK":
        body["data"] |= {"chargebackTransactionType": "Chargeback", "chargebackSource": "CB-Alert"}
    body["data"].update(data)
    return body
