"""The sender: one attempt of one delivery, over HTTP (signed, Standard Webhooks) or email.

It takes a `Destination` and a `Message` (app.domain.delivery) and answers an `Attempt`; it
knows nothing of where destinations are stored or how deliveries are queued.
"""

import httpx

from app.delivery.email import send_email
from app.delivery.http import new_client, send_http
from app.delivery.payload import check_template, lead_payload, render_body
from app.delivery.schedule import next_attempt_at, retry_delay
from app.domain.delivery import Attempt, Destination, Message


def send(destination: Destination, message: Message, client: httpx.Client | None = None) -> Attempt:
    """Attempt one delivery of a message to a destination, by its kind (HTTP through
    `client`, else the module's shared one)."""
    if destination.kind == "email":
        return send_email(destination, message)
    return send_http(destination, message, client=client)


__all__ = [
    "check_template",
    "lead_payload",
    "new_client",
    "next_attempt_at",
    "render_body",
    "retry_delay",
    "send",
    "send_email",
    "send_http",
]
