"""Partners and enrichment providers as the calling code sees them, and what a call gives.

A partner is another platform or buyer with its own API: pinged (the lead without the
person's contact details) for an offer, then posted the full lead. A provider is an
enrichment API (e.g. property and owner data for an address). Both are a tenant's
settings (app/store/partners.py); their headers are here in clear: never log them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Kind = Literal["partner", "enrichment"]
Phase = Literal["ping", "post", "enrich"]
KINDS: tuple[Kind, ...] = ("partner", "enrichment")
PHASES: tuple[Phase, ...] = ("ping", "post", "enrich")
#: What an answer rule reads: each has a JMESPath or a pattern (never both).
ANSWER_PARTS = ("accepted", "price", "reason", "redirect", "reference")
#: The lead's fields a provider needs unless its settings say otherwise.
DEFAULT_ADDRESS_FIELDS = ("address_1", "city", "state", "zip")
#: In a field map, this value sends the partner's own reference from the ping.
REFERENCE_SOURCE = "@reference"
#: How much of an answer a call record keeps.
EXCERPT_LIMIT = 4096
#: How long a lead stays `pending` at most while its plan's stages call out (all its calls
#: share a 20 s budget, app/services/outbound.py): meanwhile it is neither reprocessed nor
#: edited. One pending longer was left so by a crash: it may be reprocessed.
CALLS_IN_FLIGHT = timedelta(seconds=60)
#: Why a lead whose calls are in flight is refused.
IN_FLIGHT = "its partner calls are in flight: try again once they are answered (a minute at most)"


def calls_in_flight(status: str, updated_at: datetime | None, now: datetime) -> bool:
    """Tell whether a lead's plan may be calling partners for it now: pending, and routed
    within CALLS_IN_FLIGHT (naive UTC times, as stored)."""
    return status == "pending" and updated_at is not None and now - updated_at < CALLS_IN_FLIGHT


@dataclass(frozen=True)
class AnswerRule:
    """How to read one part of an answer: a JMESPath on a JSON answer, or a regular
    expression on its text (its first group, else the whole match)."""

    path: str | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Partner:
    """A partner's or provider's settings, its headers in clear (never logged, never shown)."""

    name: str
    kind: Kind
    ping_url: str | None = None
    post_url: str | None = None
    url: str | None = None
    method: str = "POST"
    body_format: str = "json"
    field_map: dict[str, Any] | None = None
    template: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_ms: int = 2000
    rules: dict[str, AnswerRule] = field(default_factory=dict)  # by ANSWER_PARTS
    data_path: str | None = None
    required_fields: tuple[str, ...] = DEFAULT_ADDRESS_FIELDS

    def url_for(self, phase: Phase) -> str | None:
        """Return the URL a phase calls (None: this partner has no such phase)."""
        if phase == "ping":
            return self.ping_url if self.kind == "partner" else None
        if phase == "post":
            return self.post_url if self.kind == "partner" else None
        return self.url if self.kind == "enrichment" else None


@dataclass(frozen=True)
class Answer:
    """What a partner's answer says. A malformed answer is a rejection whose reason says
    what was wrong with it (`malformed` set), never an exception."""

    accepted: bool
    price_cents: int | None = None
    reason: str | None = None
    redirect_url: str | None = None
    reference: str | None = None
    data: dict[str, Any] | None = None  # a provider's: the object taken from its answer
    excerpt: str = ""
    malformed: bool = False


@dataclass(frozen=True)
class CallRecord:
    """One outbound call: to whom, when, how long, and its answer or why there is none."""

    partner: str
    phase: Phase
    url: str  # without its query string: it may hold the lead's data or a key
    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    answer: Answer | None = None
    error: str | None = None  # no answer: timed out, refused, ...
    timed_out: bool = False
    skipped: bool = False  # not called: the lead lacks what the request needs

    @property
    def accepted(self) -> bool:
        """Return whether the partner accepted (an offer for a ping, the lead for a post)."""
        return self.answer is not None and self.answer.accepted
