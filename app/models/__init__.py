"""ORM models of the tables this service owns. Importing this package registers them all on ``Base``."""

from app.models.webhook_event import WebhookEvent, WebhookEventStatus

__all__ = ["WebhookEvent", "WebhookEventStatus"]
