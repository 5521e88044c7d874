"""Models of the webhook routes and the operations views of stored events (``Base``, then ``Response``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from app.models import WebhookEvent


class WebhookAcceptedResponse(BaseModel):
    status: Literal["accepted", "duplicate"]


class WebhookEventBase(BaseModel):
    event_name: str
    netvalve_transaction_id: int | None
    client_order_id: str | None
    trace_id: str | None


class WebhookEventResponse(WebhookEventBase):
    id: int
    status: str
    payment_session_id: str | None
    medusa_action: str | None
    attempts: int
    last_error: str | None
    source_ip: str | None
    received_at: datetime
    next_attempt_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, event: WebhookEvent) -> WebhookEventResponse:
        return cls.model_validate(event, from_attributes=True)


class WebhookEventListResponse(BaseModel):
    events: list[WebhookEventResponse]
