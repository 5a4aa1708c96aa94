"""Reverse auctions on the sources' side: the open auctions a source may fill, and a fill.

A fill is a new lead posted for an auction. It is validated and kept like any lead; it is
sold to the auction's customer at the auction's price when its values equal every
criterion, the lead is one the plan could sell (not a duplicate, not held for audit, not a
test lead), the auction is open and unexpired, and the customer can pay. All of it is one
transaction under the auction's row lock (the lead, its post, the charge, the count, the
deliveries). Otherwise the lead is routed by the tenant's plan like any other, and the
answer says why the auction was not filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.domain.clock import naive
from app.domain.money import from_cents
from app.domain.routing import Decision, SaleTerms, Step
from app.domain.status import Status
from app.domain.wants import EXPIRED, OPEN, mismatch
from app.dsl.ruleset import RuleSet
from app.services.routing import take_new_lead
from app.store.auctions import (
    FillState,
    count_fill,
    find_auction,
    lock_for_fill,
    mark_expired,
    open_auctions,
)
from app.store.models import Auction, Lead, Post, RuleSetVersion, Source

#: Plan outcomes of a lead that may fill an auction: the plan could sell it.
FILLABLE = (Status.ASSIGNED, Status.UNASSIGNED, Status.MARKETPLACE, Status.UNCATEGORIZED)
#: Why an auction was not filled: its answer's HTTP status.
MISMATCH, INELIGIBLE, CLOSED, UNPAID = "mismatch", "ineligible", "closed", "unpaid"
REFUSAL_STATUS = {MISMATCH: 422, INELIGIBLE: 422, CLOSED: 409, UNPAID: 409}


@dataclass
class Fill:
    """What a fill did: the lead's routing, and whether the auction took it (else why)."""

    auction: Auction
    decision: Decision | None = None
    filled: bool = False
    refusal: str | None = None  # MISMATCH, INELIGIBLE, CLOSED or UNPAID
    reason: str | None = None  # for the integrator
    fills_left: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status_code(self) -> int:
        """Return the HTTP status of the answer: 201 filled, else 409 or 422."""
        return 201 if self.filled else REFUSAL_STATUS[self.refusal or CLOSED]


def auctions_for(source: Source, *, limit: int = 100, offset: int = 0) -> list[Auction]:
    """Return the open auctions of the source's tenant and category, soonest to expire."""
    now = naive(datetime.now(UTC))
    return open_auctions(source.tenant_id, source.category, now, limit, offset)


def auction_for(source: Source, ref: str) -> Auction:
    """Return the source's tenant's auction of the source's category (NotFoundError)."""
    return find_auction(source.tenant_id, ref, source.category)


def precheck(auction: Auction, values: dict[str, Any]) -> Fill:
    """Return the fill as far as the lead's values decide it: refused if they do not match."""
    fill = Fill(auction)
    reason = mismatch(auction.criteria, values)
    if reason is not None:
        fill.refusal, fill.reason = MISMATCH, f"The lead does not match the auction: {reason}."
        fill.details = {"criterion": reason.split(":", 1)[0]}
    return fill


def fill_auction(
    fill: Fill,
    post: Post,
    lead: Lead,
    version: RuleSetVersion | None,
    ruleset: RuleSet,
    *,
    notes: list[str],
    test_price_cents: int,
    now: datetime | None = None,
) -> Fill:
    """Store the new lead (from `new_submission`) and sell it to the auction if it fills it,
    in one transaction; route it by the plan otherwise. Return the fill, completed."""
    now = now or datetime.now(UTC)
    if fill.refusal is not None:  # it does not match: a lead like any other
        post.status_code = fill.status_code
        fill.decision = take_new_lead(
            post, lead, version, ruleset, notes=notes, now=now, test_price_cents=test_price_cents
        )
        return fill
    taker = _Taker(fill, post, lead, naive(now))
    fill.decision = take_new_lead(
        post,
        lead,
        version,
        ruleset,
        notes=notes,
        now=now,
        test_price_cents=test_price_cents,
        override=taker,
    )
    return fill


class _Taker:
    """The auction's side of the filling lead's routing transaction (an `Override`)."""

    def __init__(self, fill: Fill, post: Post, lead: Lead, now: datetime) -> None:
        self.fill, self.post, self.lead, self.now = fill, post, lead, now
        self.offered = False  # an attempt decided the auction's sale
        self.state: FillState | None = None

    def lock(self) -> None:
        """Lock the auction's row; once the auction's sale lost, the customer could not pay."""
        fill = self.fill
        fill.filled, fill.refusal, fill.reason = False, None, None
        fill.fills_left, fill.details = None, {}
        self.state = None
        if self.offered:  # the auction's sale lost its race: the charge found no money
            fill.refusal = UNPAID
            fill.reason = (
                "The auction's customer cannot pay for the lead now (balance too low or"
                " account inactive)."
            )
            return
        self.state = state = lock_for_fill(self.fill.auction.id, self.now)
        if state.status != OPEN:
            fill.refusal = CLOSED
            fill.reason = f"The auction is {state.status}: it takes no more leads."
            fill.details = {"auction_status": state.status}

    def decide(self, planned: Decision) -> Decision:
        """Return the auction's sale, or the plan's decision when the auction does not take it."""
        fill, state = self.fill, self.state
        if fill.refusal is None and self.lead.is_test:
            fill.refusal, fill.reason = INELIGIBLE, "A test lead does not fill auctions."
        elif fill.refusal is None and planned.status not in FILLABLE:
            fill.refusal = INELIGIBLE
            fill.reason = f"The lead is {planned.status}: only a lead the plan could sell fills."
            fill.details = {"lead_status": str(planned.status)}
        if fill.refusal is not None or state is None:
            self.post.status_code = fill.status_code
            return planned
        auction = fill.auction
        bid_id = f"auction:{auction.public_id}"
        price = auction.price_cents
        message = (
            f"Sold to {state.customer.slug} by reverse auction {auction.public_id}"
            f" at {from_cents(price)}."
        )
        step = Step("auction_filled", message, {"auction": auction.public_id, "price": price})
        self.post.status_code = 201
        self.offered = True
        return Decision(
            Status.ASSIGNED,
            planned.lead_type,
            price,
            state.customer,
            bid_id,
            (step,),
            planned.record_keys,
            SaleTerms(customer_id=state.customer.id, bid_id=bid_id, price_cents=price),
        )

    def claim(self, decision: Decision) -> None:
        """Count the fill when the decision is the auction's sale; mark a lapsed one expired."""
        fill = self.fill
        if fill.refusal == CLOSED and (self.state and self.state.status == EXPIRED):
            mark_expired(fill.auction.id, self.now)
        if fill.refusal is not None:
            return
        fill.fills_left = count_fill(fill.auction.id, self.now)
        fill.filled = True
