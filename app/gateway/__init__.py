"""NetValve gateway: the one package that knows NetValve's URLs, headers, fields, codes and states.

``client`` has the verbs, ``transport`` sends them, ``outcomes`` and ``codes`` read the answers into a
``result.GatewayResult``; ``requests`` builds the bodies (``wire``) from the shop's values (``cardonfile``:
a saved card's CIT/MIT fields), ``routing``
picks the merchant account, ``answers`` types NetValve's answers, ``threeds`` and ``events`` cover 3-D
Secure and webhooks, ``backoffice`` the undocumented backoffice API.
"""

from app.core.redaction import REDACTED, redact, redact_text
from app.gateway import requests
from app.gateway.answers import (
    ChargebackEntry,
    HpfSession,
    IssuedCard,
    OrderDetails,
    TransactionDetails,
    TransactionResponse,
    TransactionSummary,
    mask_pan,
)
from app.gateway.backoffice import BackofficeScript, pick_active_script
from app.gateway.cardonfile import CardOnFile, CardOnFileKind
from app.gateway.client import NetValveClient
from app.gateway.codes import (
    ALREADY_DONE,
    DECLINES,
    Outcome,
    Refusal,
    TxnKind,
    classify_code,
)
from app.gateway.encoding import AMOUNT_DECIMALS, check_amount, decode_json, encode_json, money_token
from app.gateway.events import WEBHOOK_EVENT_KINDS, EventKind, event_kind
from app.gateway.operations import MUTATING_OPERATIONS, Operation
from app.gateway.outcomes import Classification, classify_response
from app.gateway.requests import Browser, Sale, Shopper, UnsendableRequest
from app.gateway.result import GatewayResult
from app.gateway.routing import MerchantNotConfigured, Routing, RoutingKind, routing_for
from app.gateway.threeds import (
    ThreeDSAuthRequest,
    ThreeDSInitRequest,
    ThreeDSKind,
    ThreeDSProviderResponse,
    ThreeDSResultRequest,
    ThreeDSStep,
    threeds_step,
)
from app.gateway.transport import (
    REQUEST_SECONDS,
    REQUESTS_TOTAL,
    CircuitBreaker,
    build_http_client,
    worst_case_call_seconds,
)
from app.gateway.wire import (
    AdditionalData,
    CancelBody,
    CaptureBody,
    CaptureOptions,
    CreateTokenRequest,
    CustomerDetails,
    HppOrderRequest,
    RefundBody,
    SaleRequest,
    ThreeDSData,
)

__all__ = [
    "ALREADY_DONE",
    "AMOUNT_DECIMALS",
    "DECLINES",
    "MUTATING_OPERATIONS",
    "REDACTED",
    "REQUESTS_TOTAL",
    "REQUEST_SECONDS",
    "WEBHOOK_EVENT_KINDS",
    "AdditionalData",
    "BackofficeScript",
    "Browser",
    "CancelBody",
    "CaptureBody",
    "CaptureOptions",
    "CardOnFile",
    "CardOnFileKind",
    "ChargebackEntry",
    "CircuitBreaker",
    "Classification",
    "CreateTokenRequest",
    "CustomerDetails",
    "EventKind",
    "GatewayResult",
    "HpfSession",
    "HppOrderRequest",
    "IssuedCard",
    "MerchantNotConfigured",
    "NetValveClient",
    "Operation",
    "OrderDetails",
    "Outcome",
    "RefundBody",
    "Refusal",
    "Routing",
    "RoutingKind",
    "Sale",
    "SaleRequest",
    "Shopper",
    "ThreeDSAuthRequest",
    "ThreeDSData",
    "ThreeDSInitRequest",
    "ThreeDSKind",
    "ThreeDSProviderResponse",
    "ThreeDSResultRequest",
    "ThreeDSStep",
    "TransactionDetails",
    "TransactionResponse",
    "TransactionSummary",
    "TxnKind",
    "UnsendableRequest",
    "build_http_client",
    "check_amount",
    "classify_code",
    "classify_response",
    "decode_json",
    "encode_json",
    "event_kind",
    "mask_pan",
    "money_token",
    "pick_active_script",
    "redact",
    "redact_text",
    "requests",
    "routing_for",
    "threeds_step",
    "worst_case_call_seconds",
]
