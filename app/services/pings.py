"""Inbound ping-post: a source pings (the lead without the person's identity), gets the bids
that would buy it, then posts the full lead against the ping (docs/ping-post.md).

A ping is validated against the fields marked required(ping), classified, audited, checked
for duplicates on the keys it carries and bid on by the same router as a post, on facts
read without writing (app/store/facts.py `peek_facts`): nothing is charged, no cap is
counted, no dedupe key recorded; the ping's own row is its only write.

A post naming the ping is matched to it (same source, accepted, unused, unexpired, the
ping's values unchanged) and routed like any post, with the ping's bid tried first at the
ping's price (app/pipeline/routing.py `PreparedLead(preferred=...)`); the ping is marked
used in the post's transaction, so a ping takes one lead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.clock import naive
from app.domain.errors import InvalidError, NotFoundError
from app.domain.identity import is_identity
from app.domain.money import as_number, to_cents
from app.domain.routing import Decision, Facts
from app.domain.status import Status
from app.dsl.ruleset import RuleSet
from app.pipeline import PreparedLead
from app.pipeline.validation import validate_lead
from app.services.actor import Actor
from app.services.routing import take_new_lead
from app.store import pings as store
from app.store.db import json_text
from app.store.facts import peek_facts
from app.store.models import Lead, Ping, Post, RuleSetVersion, Source
from app.store.pings import ACCEPTED, PING_STATUSES, REJECTED

__all__ = ["PING_STATUSES", "PingPost", "check_ping_post", "take_ping", "take_pinged_lead"]

#: Why a ping gets no bid, by the plan's outcome for it.
REASONS = {
    Status.DUPLICATE: "A lead like this one was received within its dedupe window.",
    Status.AUDIT: "The lead would be held for audit.",
    Status.UNCATEGORIZED: "No lead type takes the lead.",
}
NO_BID = "No bid can take the lead now."
TEST_BID = "test"  # a test ping's bid: the test price, sold to no one


def without_identity(payload: Any) -> Any:
    """Return a ping's payload with the identity fields left out (never stored)."""
    if not isinstance(payload, dict):
        return payload
    return {name: value for name, value in payload.items() if not is_identity(name)}


def take_ping(
    source: Source,
    ruleset: RuleSet,
    payload: Any,
    fields: dict[str, Any],
    request_id: str,
    received_at: datetime,
    *,
    test_price_cents: int,
) -> Ping:
    """Validate and bid on a ping, store it with its answer (one statement), return it.

    Invalid fields: the ping is stored rejected (status code 422) and InvalidError raised.
    """
    expires_at = received_at + timedelta(seconds=source.ping_ttl_seconds)
    ping = store.new_ping(
        source,
        request_id,
        without_identity(payload),
        category=source.category,
        received_at=naive(received_at),
        expires_at=naive(expires_at),
    )
    try:
        values, is_test, _ = validate_lead(
            fields, ruleset, source.category, test_mode=source.test_mode, ping=True
        )
    except InvalidError as error:
        ping.status_code, ping.reason, ping.errors = 422, error.message, error.details
        store.save_ping(ping)
        raise
    prepared = PreparedLead(
        values,
        ruleset,
        source.category,
        received_at,
        is_test=is_test,
        test_price_cents=test_price_cents,
    )
    facts = Facts() if is_test else peek_facts(source.tenant_id, prepared.needs)
    decision, ranked = prepared.offers(facts)
    if is_test and decision.status == Status.ASSIGNED:
        ranked = [(TEST_BID, decision.price_cents)]
    ping.data = values
    ping.lead_type = decision.lead_type
    if ranked:
        ping.status = ACCEPTED
        ping.bids = [
            {"bid_id": bid_id, "price_cents": price}
            for bid_id, price in ranked[: source.ping_bids_shown]
        ]
    else:
        ping.status = REJECTED
        ping.reason = REASONS.get(decision.status, NO_BID)
    return store.save_ping(ping)


def ping_answer(ping: Ping) -> dict[str, Any]:
    """Return a ping's answer to its source."""
    expires = ping.expires_at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    answer: dict[str, Any] = {
        "ping_id": ping.public_id,
        "status": ping.status,
        "bids": [
            {"bid_id": bid["bid_id"], "price": as_number(bid["price_cents"]), "expires_at": expires}
            for bid in ping.bids
        ],
        "expires_at": expires,
    }
    if ping.status == REJECTED:
        answer["reason"] = ping.reason
    return answer


def record_refused_ping(
    source: Source, request_id: str, payload: Any, status_code: int, errors: Any
) -> Ping:
    """Store a ping refused before it could be read or validated (400, 413, 415, 429...)."""
    now = datetime.now(UTC)
    ping = store.new_ping(
        source,
        request_id,
        without_identity(payload),
        category=source.category,
        received_at=naive(now),
        expires_at=naive(now),
    )
    ping.status_code, ping.errors = status_code, errors
    ping.reason = "The ping was refused."
    return store.save_ping(ping)


@dataclass
class PingPost:
    """What a post says of ping-post: its ping (if any), and the bid tried first."""

    ping: Ping | None = None
    preferred: tuple[str, int] | None = None  # (bid id, price cents)
    bid_lost: bool = False
    reason: str | None = None

    def answer(self) -> dict[str, Any]:
        """Return the `ping` part of the post's answer."""
        answer: dict[str, Any] = {
            "ping_id": self.ping.public_id if self.ping is not None else None,
            "bid_id": self.preferred[0] if self.preferred is not None else None,
            "bid_lost": self.bid_lost,
        }
        if self.bid_lost:
            answer["reason"] = self.reason
        return answer


def check_ping_post(
    source: Source,
    ruleset: RuleSet,
    ping_ref: Any,
    bid_ref: Any,
    values: dict[str, Any],
    now: datetime,
) -> PingPost:
    """Return the post's ping and the bid to try first; InvalidError naming the field at
    fault (`ping_id`, `bid_id`, or a ping field the post changed)."""
    if ping_ref is not None and not isinstance(ping_ref, str):
        raise InvalidError("Invalid ping.", {"ping_id": ["Must be a ping id (png_...)."]})
    if bid_ref is not None and not isinstance(bid_ref, str):
        raise InvalidError("Invalid bid.", {"bid_id": ["Must be a bid id."]})
    if not ping_ref:
        if not source.internal:
            raise InvalidError(
                "A bid_id needs a ping_id.",
                {"bid_id": ["A bid_id without a ping_id is accepted from internal sources only."]},
            )
        bids = {bid.id: bid for bid in ruleset.bids_of(source.category)}
        bid = bids.get(bid_ref) if bid_ref else None
        if bid is None:
            raise InvalidError(
                "Unknown bid.", {"bid_id": [f"No bid {bid_ref!r} on this category in the rules."]}
            )
        return PingPost(preferred=(bid.id, to_cents(bid.price)))
    ping = store.find_ping(source.tenant_id, ping_ref)
    if ping is None or ping.source_id != source.id:
        raise InvalidError(
            "Unknown ping.", {"ping_id": [f"No ping {ping_ref!r} from this source."]}
        )
    refused = _refusal(ping, naive(now))
    if refused is not None:
        raise InvalidError("The ping cannot be posted.", {"ping_id": [refused]})
    changed = {
        name: [f"Differs from ping {ping.public_id}: the ping had {value!r}."]
        for name, value in sorted(ping.data.items())
        if _stored(values.get(name)) != value
    }
    if changed:
        raise InvalidError("The post changes the ping's fields.", changed)
    offered = {bid["bid_id"]: bid["price_cents"] for bid in ping.bids}
    if bid_ref:
        if bid_ref not in offered:
            raise InvalidError(
                "Unknown bid.",
                {"bid_id": [f"Bid {bid_ref!r} was not offered on {ping.public_id}."]},
            )
        chosen = bid_ref
    else:
        chosen = ping.bids[0]["bid_id"]
    return PingPost(ping=ping, preferred=(chosen, offered[chosen]))


def _refusal(ping: Ping, now: datetime) -> str | None:
    """Return why the ping cannot be posted against, or None."""
    if ping.status != ACCEPTED:
        return f"Ping {ping.public_id} was rejected: there is no bid to post against."
    if ping.used_at is not None:
        return f"Ping {ping.public_id} was already used by lead {ping.used_by}."
    if ping.expires_at <= now:
        stamp = ping.expires_at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
        return f"Ping {ping.public_id} expired at {stamp}: ping again."
    return None


def _stored(value: Any) -> Any:
    """Return a value as the ping's stored data holds it (a JSON round trip)."""
    return None if value is None else json.loads(json_text(value))


def take_pinged_lead(
    ping_post: PingPost,
    post: Post,
    lead: Lead,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    *,
    notes: list[str],
    test_price_cents: int,
    now: datetime | None = None,
) -> Decision:
    """Route a post naming a ping (or, from an internal source, a bid) and store it, its
    ping marked used, in one transaction; `ping_post` is completed with the bid's fate."""
    now = now or datetime.now(UTC)
    claim = None
    if ping_post.ping is not None:
        lead.ping = ping_post.ping
        claim = _PingClaim(ping_post.ping, lead.public_id, naive(now))
    decision = take_new_lead(
        post,
        lead,
        version,
        ruleset,
        notes=notes,
        now=now,
        test_price_cents=test_price_cents,
        override=claim,
        preferred=ping_post.preferred,
    )
    kinds = {step.kind: step for step in decision.steps}
    if "ping_bid" in kinds:
        ping_post.bid_lost = False
    elif "ping_bid_lost" in kinds:
        ping_post.bid_lost = True
        ping_post.reason = (kinds["ping_bid_lost"].details or {}).get("reason")
    else:  # a test lead: decided by its test zip, sold to no one
        ping_post.bid_lost = decision.status != Status.ASSIGNED
        ping_post.reason = f"the test lead is {decision.status}" if ping_post.bid_lost else None
    return decision


class _PingClaim:
    """The ping's side of the post's routing transaction (an `Override`): mark it used."""

    def __init__(self, ping: Ping, lead_public_id: str, now: datetime) -> None:
        self.ping, self.lead_public_id, self.now = ping, lead_public_id, now

    def lock(self) -> None:
        """Mark the ping used first in the transaction (InvalidError if it cannot be)."""
        store.claim_ping(self.ping, self.lead_public_id, self.now)

    def decide(self, planned: Decision) -> Decision:
        """Keep the plan's decision (the ping's bid was tried first by the plan's router)."""
        return planned

    def claim(self, decision: Decision) -> None:
        """Nothing more to write: the ping was marked in `lock`."""


def list_pings(
    actor: Actor,
    *,
    source: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Ping]:
    """Return the tenant's pings (the ping log), newest first."""
    actor.require("posts.read")
    return store.list_pings(actor.acting_tenant(), limit, offset, source, status)


def show_ping(actor: Actor, ref: str) -> Ping:
    """Return a ping with its payload, answer and the lead posted against it (`ping.lead`)."""
    actor.require("posts.read")
    found = store.get_ping(actor.acting_tenant(), ref)
    if found is None:
        raise NotFoundError(f"no ping {ref!r}")
    ping, lead = found
    ping.lead = lead
    return ping
