"""Route a lead through its category's plan: classify, audit, dedupe, then the stages."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from peewee import DatabaseError

from app.domain.clock import naive
from app.pipeline.audit import audit
from app.pipeline.bidding import candidates, run_bidding
from app.pipeline.classify import classify
from app.pipeline.dedupe import find_duplicate
from app.pipeline.lead import lead_from_row
from app.pipeline.marketplace import place_in_marketplace
from app.pipeline.outcome import Outcome
from app.pipeline.testmode import decide_test_lead
from app.store.db import database
from app.store.leads import lock_lead, received_events, refusal
from app.store.models import Lead, Post
from app.store.routing import Routed, save_new_lead, save_routing

OPTIMISTIC_ATTEMPTS = 3  # then one more, with the candidates' customers locked first


class _LostRace(Exception):
    """Another routing sold to the same customer or bid first: decide again."""


def route_lead(
    lead_row: Lead,
    version,
    ruleset,
    *,
    now: datetime | None = None,
    test_price_cents: int = 4500,
    statuses: tuple[str, ...] = ("pending",),
) -> Outcome:
    """Decide a stored lead's outcome and store it, its charge and its timeline in one
    transaction (a reprocess, or a lead stored pending by `store_pending`).

    The lead must have one of `statuses` (checked under a row lock). Either everything
    commits (status, charge, counters, dedupe record, events) or nothing does and the
    exception propagates, leaving the lead as it was before.
    """
    try:
        return _route(
            lead_row,
            version,
            ruleset,
            now,
            test_price_cents,
            save=partial(save_routing, lead_row.id),
            lock=lambda: lock_lead(lead_row, statuses),
        )
    except DatabaseError as error:
        refused = refusal(lead_row, error)  # the lead's lock found it routed already
        if refused is None:
            raise
        raise refused from None


def take_lead(
    post: Post,
    lead_row: Lead,
    version,
    ruleset,
    *,
    notes: tuple[str, ...] | list[str] = (),
    now: datetime | None = None,
    test_price_cents: int = 4500,
) -> Outcome:
    """Decide a new lead's outcome and store it with its post, in one transaction.

    The post and the lead (from `new_submission`, not yet stored) are inserted already
    routed, with their timeline, dedupe record and charge: everything commits together or
    nothing is written and the exception propagates (the intake then keeps the submission
    as `distribution_error`). No other routing can see the lead before it commits, so it
    needs no lock.
    """
    save = partial(save_new_lead, post, lead_row, received_events(post, notes))
    return _route(lead_row, version, ruleset, now, test_price_cents, save=save)


def _route(
    lead_row: Lead,
    version,
    ruleset,
    now: datetime | None,
    test_price_cents: int,
    *,
    save,
    lock=None,
) -> Outcome:
    """Decide and `save` in one transaction, deciding again when the sale lost its race.

    Bidding reads balances and counters without locks and the sale is written last, with
    its conditions in its writes (app/store/sales.py). When another routing got there
    first, this one rolls back and decides again; after OPTIMISTIC_ATTEMPTS such races the
    last attempt locks the candidates' customers before reading, and cannot lose.
    """
    now = now or datetime.now(UTC)
    source = lead_row.source  # no query when the intake just made the row with its source
    lead = lead_from_row(lead_row, source.name)
    outermost = not database.in_transaction()  # then the last statement may COMMIT
    for attempt in range(OPTIMISTIC_ATTEMPTS + 1):
        try:
            with database.atomic():
                if lock is not None:
                    lock()
                outcome = _decide(
                    lead,
                    lead_row,
                    ruleset,
                    now,
                    test_price_cents,
                    lock_buyers=attempt == OPTIMISTIC_ATTEMPTS,
                )
                routed = Routed(
                    status=outcome.status,
                    lead_type=outcome.lead_type,
                    version_id=version.id if version is not None else None,
                    price_cents=outcome.price_cents,
                    customer_id=outcome.customer.id if outcome.customer is not None else None,
                    bid_id=outcome.bid_id,
                    at=naive(now),
                    steps=outcome.steps,
                    seen_keys=outcome.seen_keys,
                    sale=outcome.sale,
                )
                saved = save(routed, commit=outermost)
                if not saved:
                    raise _LostRace
        except _LostRace:
            continue
        return outcome
    raise AssertionError("the locked attempt cannot lose a race")  # pragma: no cover


def _decide(
    lead, lead_row: Lead, ruleset, now: datetime, test_price_cents: int, *, lock_buyers: bool
) -> Outcome:
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
    plan = ruleset.plans.get(category)
    stages = plan.stages if plan is not None else ()
    # The first bidding stage's read goes with the dedupe keys' statement: a round trip less.
    first = next((stage for stage in stages if stage.kind == "bidding"), None)
    sorted_out = read = None
    if first is not None and not lock_buyers:
        sorted_out = candidates(first, lead, lead_type, ruleset, now)
        read = sorted_out.read(lead_row.tenant_id)
    duplicate, outcome.seen_keys, found = find_duplicate(
        lead,
        ruleset,
        category,
        tenant_id=lead_row.tenant_id,
        lead_row=lead_row,
        now=now,
        read=read,
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
    for stage in stages:
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
                lock_buyers=lock_buyers,
                sorted_out=sorted_out if stage is first else None,
                read=found if stage is first else None,
            ):
                return outcome
        elif stage.kind == "marketplace":
            return place_in_marketplace(outcome)
        else:
            outcome.note("skipped", f"Stage {stage.kind} is not supported yet: skipped.")
    outcome.status = "unassigned"
    outcome.note("unassigned", "No buyer was available.")
    return outcome
