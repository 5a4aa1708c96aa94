"""Routing's values, shared by the pipeline (which decides), the store (which reads the facts
and writes the decision) and the services (which run one between the other).

The pipeline says what it must read (`Needs`: known from the lead, the rule set and the
moment alone), the store reads it in the routing transaction (`Facts`), the pipeline
decides on those facts (`Decision`, with the `SaleTerms` of a winning bid), and the store
writes the decision. All are plain frozen values: no rows, no queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.partners import CallRecord, Phase
from app.domain.status import Status

#: The timeline kind of an alter stage's step: its details hold the values it replaced.
ALTERED = "altered"


@dataclass(frozen=True, slots=True)
class Step:
    """One timeline entry: what a stage decided and why."""

    kind: str
    message: str
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SeenKey:
    """A dedupe key's history as read: when it was last recorded, and on which lead."""

    last_seen_at: datetime | None  # naive UTC; None: never recorded
    lead_id: int | None  # the lead it was last recorded on
    original: str | None  # that lead's public id


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """A bid's customer as read: what bidding decides on."""

    id: int
    public_id: str
    slug: str
    active: bool
    balance_cents: float  # int; the dry-run's customers have an unlimited balance


#: (bid id, period, period start as naive UTC): a cap or budget counter
CounterKey = tuple[str, str, datetime]


@dataclass(frozen=True)
class Needs:
    """What must be read to route a lead: the keys of its dedupe history, and for the open
    bids of its plan's bidding stages their customers, counters and last wins."""

    key_hashes: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()  # slugs
    counters: tuple[CounterKey, ...] = ()
    bids: tuple[str, ...] = ()  # whose last win is read

    @property
    def bidding(self) -> bool:
        """Tell whether any bid is to be read for."""
        return bool(self.customers)


@dataclass(frozen=True)
class Facts:
    """What the store read for `Needs`, in the routing transaction."""

    keys: Mapping[str, SeenKey] = field(default_factory=dict)  # by key hash
    customers: Mapping[str, CustomerFacts] = field(default_factory=dict)  # by slug
    usage: Mapping[CounterKey, tuple[int, int]] = field(default_factory=dict)  # (leads, cents)
    last_won: Mapping[str, datetime] = field(default_factory=dict)  # bid id -> naive UTC


@dataclass(frozen=True)
class SaleTerms:
    """A winning bid, with what its eligibility and rank were decided on (the sale re-checks
    them in its writes)."""

    customer_id: int
    bid_id: str
    price_cents: int
    periods: tuple[tuple[str, datetime], ...] = ()  # (period, start) of the cap and budget
    cap: tuple[str, int] | None = None  # (period, most leads)
    budget: tuple[str, int] | None = None  # (period, most cents)
    last_won: datetime | None = None  # the bid's last win as read
    check_last_won: bool = False  # the ranking depended on it (round robin, a tie)


@dataclass(frozen=True)
class Offer:
    """A partner's answer to a ping_post stage's ping: what it would pay for the lead."""

    partner: str
    price_cents: int
    reference: str | None = None  # the partner's own id for the ping, sent with the post


@dataclass(frozen=True)
class Outbound:
    """Where routing stopped: a stage that must call out before it can decide. The calls are
    made outside any transaction; routing then resumes at the stage with their records."""

    stage: int  # the stage's index in the plan
    kind: str  # "ping_post" | "post" | "enrich"
    phase: Phase  # what to call now
    partners: tuple[str, ...]  # pinged together, posted to in turn, or the provider alone
    timeout_ms: int | None = None  # a ping's deadline: the stage's timeout
    offer: Offer | None = None  # a post after a ping: the offer it is posted against


@dataclass(frozen=True)
class Resume:
    """Routing taken up again at a calling stage, with what its calls answered so far."""

    stage: int
    lead_type: str
    records: tuple[CallRecord, ...]
    pinged_ms: float | None = None  # how long the stage's ping fan-out took, wall time


@dataclass(frozen=True)
class Posted:
    """A lead sold to a partner by a post: to whom, and what the partner answered."""

    partner: str
    reference: str | None = None
    redirect_url: str | None = None


@dataclass(frozen=True)
class Decision:
    """What routing decided for a lead."""

    status: Status
    lead_type: str | None = None
    price_cents: int = 0
    customer: CustomerFacts | None = None  # the winning bid's customer
    bid_id: str | None = None
    steps: tuple[Step, ...] = ()
    record_keys: tuple[str, ...] = ()  # dedupe key hashes to record the lead on
    sale: SaleTerms | None = None
    offer_cents: int | None = None  # a lead placed on the marketplace: its claim price
    altered: dict[str, Any] | None = None  # the lead's data as alter stages left it; None: as is
    outbound: Outbound | None = None  # pending: the calls routing waits for
    posted: Posted | None = None  # posted: the partner that took the lead
    enriched: dict[str, Any] | None = None  # providers' answers by name, to keep on the lead
