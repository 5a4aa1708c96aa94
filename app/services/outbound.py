"""Stages that call out: make the calls a pending decision asks for, then route again.

Routing (app/pipeline) stops at a ping_post, post or enrich stage with the calls to make
(`Decision.outbound`), and the lead is stored `pending`. The calls are made here, outside
any transaction (no database connection or lock is held while partners answer), and the
lead is routed again from that stage with every record of the stage's calls so far, under
its row lock, for as long as the decision asks for more calls: a ping_post stage pings,
then posts to the best offer, then to the next best when a post is rejected or times out.
Each call goes on the lead's timeline (`partner_call`) with the decision it led to.

A ping's fields are the lead's without the person's identity (app/domain/identity.py); a
post and an enrichment get the lead's full data as routing left it (after alter stages).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from app.delivery.partners import call_all, timeline_entry
from app.domain.identity import is_identity
from app.domain.money import as_number
from app.domain.partners import CallRecord, Partner
from app.domain.routing import Decision, Outbound, Resume, Step
from app.store.models import Lead
from app.store.partners import partners_named

#: How long all the calls of one lead's routing may take together: below gunicorn's worker
#: timeout (30 s), so a worker is never killed by partners that are slow to answer posts
#: (each may take up to its own timeout, 30 s at most). A call past it is not made.
CALL_BUDGET_S = 20.0
#: The verb a call's timeline message starts with, by phase.
VERBS = {"ping": "Pinged", "post": "Posted to", "enrich": "Called provider"}

Reroute = Callable[[Resume, tuple[Step, ...]], Decision]


def follow_calls(lead: Lead, decision: Decision, reroute: Reroute) -> Decision:
    """Make the calls `decision` asks for and route the lead again with their records
    (`reroute`), until a decision asks for none; return that decision."""
    stage: int | None = None
    records: list[CallRecord] = []
    pinged_ms: float | None = None
    budget_end = time.monotonic() + CALL_BUDGET_S
    while decision.outbound is not None:
        request = decision.outbound
        if request.stage != stage:  # a new stage: its own calls only
            stage, records, pinged_ms = request.stage, [], None
        started = time.monotonic()
        made = make_calls(lead, request, budget_end)
        if request.phase == "ping":
            pinged_ms = round((time.monotonic() - started) * 1000, 3)
        records.extend(made)
        assert decision.lead_type is not None  # a stage of a lead type's plan asked
        resume = Resume(request.stage, decision.lead_type, tuple(records), pinged_ms)
        decision = reroute(resume, tuple(call_step(record) for record in made))
    return decision


def make_calls(lead: Lead, request: Outbound, budget_end: float) -> list[CallRecord]:
    """Make the calls of one request: pings all at once within the stage's timeout; posts
    in turn until one accepts; an enrichment to its provider. None goes on past
    `budget_end` (a `time.monotonic()` instant: see CALL_BUDGET_S). A partner the tenant no
    longer has is recorded as an error, not called."""
    kind = "enrichment" if request.phase == "enrich" else "partner"
    known = partners_named(lead.tenant_id, request.partners, kind)
    data = dict(lead.data)
    if request.phase == "ping":
        fields = {name: value for name, value in data.items() if not is_identity(name)}
        callable_ = [known[name] for name in request.partners if name in known]
        deadline = min(time.monotonic() + (request.timeout_ms or 0) / 1000, budget_end)
        made = {record.partner: record for record in call_all(callable_, "ping", fields, deadline)}
        return [made.get(name) or _not_called(name, request) for name in request.partners]
    references = {}
    if request.offer is not None and request.offer.reference is not None:
        references[request.offer.partner] = request.offer.reference
    records = []
    for name in request.partners:
        partner: Partner | None = known.get(name)
        if partner is None or time.monotonic() >= budget_end:
            records.append(_not_called(name, request, partner is not None))
            continue
        (record,) = call_all([partner], request.phase, data, budget_end, references)
        records.append(record)
        if record.accepted:
            break  # first acceptance wins
    return records


def call_step(record: CallRecord) -> Step:
    """Return a call's timeline step: what was called, how long it took, what it said."""
    verb, answer = VERBS[record.phase], record.answer
    took = f"({record.duration_ms:.0f} ms)"
    if answer is None:
        said = record.error or "no answer"
    elif not answer.accepted:
        said = "rejected: " + (answer.reason or "no reason given")
    elif record.phase == "ping":
        price = answer.price_cents
        said = "offered " + (f"{as_number(price):.2f}" if price is not None else "no price")
    else:
        said = "accepted"
    return Step("partner_call", f"{verb} {record.partner}: {said} {took}.", timeline_entry(record))


def _not_called(name: str, request: Outbound, known: bool = False) -> CallRecord:
    """Return the record of a call not made: the tenant has no such partner or provider
    (removed since the rules were pushed), or (`known`) the lead's call budget is spent."""
    if known:
        why = f"not called: the lead's calls used their {CALL_BUDGET_S:g} s budget"
    else:
        what = "provider" if request.phase == "enrich" else "partner"
        why = f"not called: the tenant has no {what} {name!r} (removed since the rules were pushed)"
    return CallRecord(name, request.phase, "", datetime.now(UTC), 0.0, error=why)
