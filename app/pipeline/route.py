"""Route a lead through its category's plan: classify, audit, dedupe, then the stages."""

from __future__ import annotations

from datetime import UTC, datetime

from app.pipeline.audit import audit
from app.pipeline.bidding import run_bidding
from app.pipeline.classify import classify
from app.pipeline.dedupe import find_duplicate
from app.pipeline.lead import lead_from_row
from app.pipeline.marketplace import place_in_marketplace
from app.pipeline.outcome import Outcome
from app.pipeline.testmode import decide_test_lead
from app.store.clock import naive
from app.store.db import database
from app.store.leads import add_events, lock_lead, save_outcome
from app.store.models import Lead


def route_lead(
    lead_row: Lead,
    version,
    ruleset,
    *,
    now: datetime | None = None,
    test_price_cents: int = 4500,
    statuses: tuple[str, ...] = ("pending",),
) -> Outcome:
    """Decide the lead's outcome and store it, its charge and its timeline in one transaction.

    The lead must have one of `statuses` (checked under a row lock). Either everything
    commits (status, charge, counters, dedupe record, events) or nothing does and the
    exception propagates, leaving the lead as it was before.
    """
    now = now or datetime.now(UTC)
    source = lead_row.source  # no query when the intake just created the row with its source
    lead = lead_from_row(lead_row, source.name)
    with database.atomic():
        lock_lead(lead_row, statuses)
        outcome = _decide(lead, lead_row, ruleset, now, test_price_cents)
        save_outcome(
            lead_row,
            status=outcome.status,
            lead_type=outcome.lead_type,
            version=version,
            price_cents=outcome.price_cents,
            customer=outcome.customer,
            bid_id=outcome.bid_id,
            at=naive(now),
        )
        add_events(lead_row, outcome.steps)
    return outcome


def _decide(lead, lead_row: Lead, ruleset, now: datetime, test_price_cents: int) -> Outcome:
    outcome = Outcome()
    category = lead_row.category
    lead_type = classify(lead, ruleset, category)
    if lead_type is not None:
        outcome.lead_type = lead_type.id
        outcome.note(
            "classified",
            f"Classified as {lead_type.label}.",
            {"lead_type": lead_type.id, "fallback": lead_type.fallback},
        )
    if lead_row.is_test:
        return decide_test_lead(lead.get("zip"), outcome, test_price_cents)
    if lead_type is None:
        outcome.status = "uncategorized"
        outcome.note("uncategorized", "No lead type matched and there is no fallback.")
        return outcome
    flagged = audit(lead, ruleset, category)
    if flagged:
        outcome.status = "audit"
        outcome.note("audit", "Held for audit: " + "; ".join(flagged) + ".", {"audits": flagged})
        return outcome
    duplicate = find_duplicate(
        lead, ruleset, category, tenant_id=lead_row.tenant_id, lead_row=lead_row, now=now
    )
    if duplicate is not None:
        original = (
            Lead.select(Lead.public_id).where(Lead.id == duplicate.original_lead_id).scalar()
            if duplicate.original_lead_id
            else None
        )
        outcome.status = "duplicate"
        outcome.note(
            "duplicate",
            f"Duplicate ({duplicate.check}) of {original or 'an earlier lead'}.",
            {"check": duplicate.check, "original": original},
        )
        return outcome
    plan = ruleset.plans.get(category)
    for stage in plan.stages if plan is not None else ():
        if stage.kind == "bidding":
            if run_bidding(
                stage,
                lead,
                lead_type,
                ruleset,
                tenant_id=lead_row.tenant_id,
                lead_row=lead_row,
                now=now,
                outcome=outcome,
            ):
                return outcome
        elif stage.kind == "marketplace":
            return place_in_marketplace(outcome)
        else:
            outcome.note("skipped", f"Stage {stage.kind} is not supported yet: skipped.")
    outcome.status = "unassigned"
    outcome.note("unassigned", "No buyer was available.")
    return outcome
