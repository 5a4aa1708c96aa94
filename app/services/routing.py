"""Routing a lead: the pipeline decides, the store reads and writes around the decision.

The pipeline's `PreparedLead` says what must be read for the lead (its `Needs`); the
store runs the routing transaction (app/store/routing.py): it reads those facts, calls the
pipeline's pure `decide(facts)`, writes the decision, and decides again on fresh facts when
a sale lost its race. Neither knows the other: this module hands one to the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from app.analysis.projection import reproject
from app.delivery.payload import lead_event_data, lead_payload
from app.domain.clock import naive
from app.domain.delivery import OUTCOME_EVENTS, Outbox, event_body
from app.domain.routing import Decision, Facts, Resume, Step
from app.domain.status import REPROCESSABLE, Status
from app.domain.threshold import Quota, month_of, withheld_decision
from app.dsl.ruleset import RuleSet
from app.pipeline import PreparedLead, lead_from_row
from app.services.outbound import follow_calls
from app.store.db import database
from app.store.leads import stored_id
from app.store.models import Lead, Post, RuleSetVersion
from app.store.routing import route_new_lead, route_stored_lead

log = logging.getLogger(__name__)


class Override(Protocol):
    """What may take a new lead's routing over, inside its transaction (a reverse auction's
    fill, app/services/auctions.py): lock first, then decide on the plan's decision, then
    claim what the decision took just before the writes."""

    def lock(self) -> None: ...

    def decide(self, planned: Decision) -> Decision: ...

    def claim(self, decision: Decision) -> None: ...


def take_new_lead(
    post: Post,
    lead: Lead,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    *,
    notes: Sequence[str] = (),
    now: datetime | None = None,
    test_price_cents: int = 4500,
    override: Override | None = None,
    preferred: tuple[str, int] | None = None,
) -> Decision:
    """Route a new lead (from `new_submission`, not yet stored) and store it with its post,
    in one transaction; return the decision.

    Everything commits together or nothing is written and the exception propagates (the
    intake then keeps the submission as `distribution_error`). With `override`, its decision
    replaces the plan's; when its sale loses its race, the transaction is decided again.
    When the tenant has a monthly threshold and the lead counts but finds no capacity left,
    the lead is stored `withheld` instead, not routed (app/domain/threshold.py). A
    `preferred` bid (bid id, price cents: a ping's) is tried first at that price.
    """
    now = now or datetime.now(UTC)
    prepared = _prepare(lead, ruleset, now, test_price_cents, preferred=preferred)
    decide = prepared.decide
    if override is not None:
        plan = prepared.decide

        def decide(facts: Facts) -> Decision:
            return override.decide(plan(facts))

    threshold = post.source.tenant.monthly_lead_threshold  # read with the source: no query
    quota = withheld = None
    if threshold is not None and not lead.is_test:
        quota = Quota(lead.tenant_id, month_of(now), threshold)
        withheld = withheld_decision(threshold)
    decision = route_new_lead(
        post,
        lead,
        notes,
        prepared.needs,
        decide,
        version_id=version.id if version is not None else None,
        at=naive(now),
        announce=_announcer(lead, ruleset, now),
        quota=quota,
        withheld=withheld,
        lock=override.lock if override is not None else None,
        claim=override.claim if override is not None else None,
    )
    return follow_pending(lead, version, ruleset, decision, test_price_cents)


def reroute_lead(
    lead: Lead,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    *,
    now: datetime | None = None,
    test_price_cents: int = 4500,
    statuses: Sequence[str] = REPROCESSABLE,
    audit: bool = True,
    start: int = 0,
    quota: Quota | None = None,
    first_steps: Sequence[Step] = (),
    follow: bool = True,
) -> Decision:
    """Route a stored lead again and store its new outcome in one transaction.

    The lead must have one of `statuses` (checked under its row lock: ConflictError
    otherwise); without `audit` its audits are skipped (a lead its review approved); the
    plan's stages before `start` are skipped (a reprocess from a stage).
    Either everything commits (status, charge, counters, dedupe record, timeline) or
    nothing does and the exception propagates, leaving the lead as it was. With a `quota`
    (releasing a withheld lead) a decision that counts takes a unit of the month, or
    nothing is written and `OverThreshold` is raised; `first_steps` go on the timeline
    before the decision's. A caller inside a transaction of its own passes `follow=False`
    and, once it committed, `follow_pending` with the decision: partners are never called
    inside a transaction (the pending lead must be stored first, and no lock held).
    """
    decision = _route_stored(
        lead,
        version,
        ruleset,
        now or datetime.now(UTC),
        test_price_cents,
        statuses,
        audit=audit,
        start=start,
        quota=quota,
        first_steps=first_steps,
    )
    if not follow:
        return decision
    return follow_pending(lead, version, ruleset, decision, test_price_cents)


def _route_stored(
    lead: Lead,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    now: datetime,
    test_price_cents: int,
    statuses: Sequence[str],
    *,
    audit: bool = True,
    start: int = 0,
    quota: Quota | None = None,
    first_steps: Sequence[Step] = (),
    resume: Resume | None = None,
) -> Decision:
    """Route a stored lead once, as `reroute_lead` says (`resume`: taken up at a calling
    stage with its calls' records); a pending decision's calls are not made here."""
    prepared = _prepare(
        lead,
        ruleset,
        now,
        test_price_cents,
        lead_id=lead.id,
        audit=audit,
        start=start,
        resume=resume,
    )
    decide = prepared.decide
    if first_steps:

        def decide(facts: Facts) -> Decision:
            decision = prepared.decide(facts)
            return replace(decision, steps=(*first_steps, *decision.steps))

    return route_stored_lead(
        lead,
        statuses,
        prepared.needs,
        decide,
        version_id=version.id if version is not None else None,
        at=naive(now),
        announce=_announcer(lead, ruleset, now),
        quota=quota,
        altered=lambda: reproject(lead.tenant_id, [lead.id]),
    )


def follow_pending(
    lead: Lead,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    decision: Decision,
    test_price_cents: int = 4500,
) -> Decision:
    """Make the calls a pending decision waits for and route the lead on with their answers
    (app/services/outbound.py); return the last decision.

    The lead is stored (pending) before the first call: a failure here leaves it pending,
    its timeline saying how far it got, and is logged, never raised (the caller's answer
    says pending; a reprocess routes it again)."""
    if decision.outbound is None:
        return decision
    if database.in_transaction():  # a caller's bug: its rollback would forget the calls
        raise RuntimeError("partners are never called inside a transaction: follow=False")

    def reroute(resume: Resume, steps: tuple[Step, ...]) -> Decision:
        return _route_stored(
            lead,
            version,
            ruleset,
            datetime.now(UTC),
            test_price_cents,
            (Status.PENDING,),
            first_steps=steps,
            resume=resume,
        )

    try:
        stored_id(lead)  # unknown here when the lead was inserted with its COMMIT
        return follow_calls(lead, decision, reroute)
    except Exception:
        log.exception("outbound stage failed", extra={"lead": lead.public_id})
        return decision


def decision_outbox(lead: Lead, ruleset: RuleSet, decision: Decision, now: datetime) -> Outbox:
    """Return what a decision on a stored lead sends (a marketplace claim's sale, say)."""
    return _announcer(lead, ruleset, now)(decision)


def _announcer(lead: Lead, ruleset: RuleSet, now: datetime) -> Callable[[Decision], Outbox]:
    """Return what tells a decision: the sold lead to its buyer's destinations (deliverable
    fields only), the outcome's event to the tenant's webhooks."""

    def announce(decision: Decision) -> Outbox:
        event = OUTCOME_EVENTS.get(decision.status)
        if event is None:
            return Outbox(None, None)
        customer = decision.customer
        values = decision.altered if decision.altered is not None else lead.data
        data = lead_event_data(
            values,
            public_id=lead.public_id,
            status=decision.status,
            category=lead.category,
            lead_type=decision.lead_type,
            price_cents=decision.price_cents,
            customer=customer.public_id if customer is not None else None,
            source=lead.source.name,
            is_test=lead.is_test,
            received_at=lead.received_at,
        )
        if decision.posted is not None:  # sold to a partner, not to a customer
            data["lead"]["partner"] = decision.posted.partner
        outbox = Outbox(event, event_body(event, data, now))
        if decision.sale is None:  # no buyer (a test lead is sold to no one)
            return outbox
        sold = lead_payload(
            ruleset,
            lead.category,
            values,
            public_id=lead.public_id,
            lead_type=decision.lead_type,
            price_cents=decision.price_cents,
            received_at=lead.received_at,
        )
        return Outbox(event, outbox.event_payload, decision.sale.customer_id, sold)

    return announce


def _prepare(
    lead: Lead,
    ruleset: RuleSet,
    now: datetime,
    test_price_cents: int,
    lead_id: int | None = None,
    audit: bool = True,
    start: int = 0,
    preferred: tuple[str, int] | None = None,
    resume: Resume | None = None,
) -> PreparedLead:
    """Return the lead ready for the pipeline (its source is on the row: no query)."""
    return PreparedLead(
        lead_from_row(lead, lead.source.name),
        ruleset,
        lead.category,
        now,
        lead_id=lead_id,
        is_test=lead.is_test,
        test_price_cents=test_price_cents,
        audit=audit,
        start=start,
        preferred=preferred,
        resume=resume,
    )
