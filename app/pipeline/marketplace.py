"""The marketplace stage: a lead nobody bought directly is offered for customers to claim."""

from __future__ import annotations

from app.pipeline.outcome import Outcome


def place_in_marketplace(outcome: Outcome) -> Outcome:
    """Mark the lead as placed in the marketplace, unpriced until claimed."""
    outcome.status = "marketplace"
    outcome.price_cents = 0
    outcome.note("marketplace", "No bid won the lead: placed in the marketplace.")
    return outcome
