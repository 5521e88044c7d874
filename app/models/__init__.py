"""ORM models of the tables this service owns. Importing this package registers them all on ``Base``.
A call's ``operation`` is the gateway's one ``Operation``."""

from app.gateway.operations import Operation
from app.models.outbox import OutboxStatus, WebhookOutbox, WebhookOutboxAttempt
from app.models.payment import (
    CallOutcome,
    GatewayTransaction,
    HpfToken,
    IdempotencyKey,
    Payer,
    Payment,
    PaymentAudit,
    PaymentStatus,
    ThreeDSStage,
)
from app.models.rate_limit import RateLimitHit
from app.models.saved_card import AccountHolder, SavedCard
from app.models.webhook_event import WebhookEvent, WebhookEventStatus

__all__ = [
    "AccountHolder",
    "CallOutcome",
    "GatewayTransaction",
    "HpfToken",
    "IdempotencyKey",
    "Operation",
    "OutboxStatus",
    "Payer",
    "Payment",
    "PaymentAudit",
    "PaymentStatus",
    "RateLimitHit",
    "SavedCard",
    "ThreeDSStage",
    "WebhookEvent",
    "WebhookEventStatus",
    "WebhookOutbox",
    "WebhookOutboxAttempt",
]
