"""Live routing's two pure steps: what must be read for a lead, then the decision on it.

`PreparedLead(lead, ruleset, category, now)` classifies the lead, runs its audits (unless
`audit=False`: a lead its review approved), hashes its dedupe keys and sorts out the bids
its plan's bidding stages (from stage `start`: a reprocess from a stage) may sell to
(condition, stage list, schedule): all of it depends on the lead, the rule set and the
moment only, so everything the decision needs (`Needs`) is known before anything is read.
`PreparedLead.decide(facts)` then routes the lead with the category's router
(app/pipeline/router.py, the one the dry-run replays with) on what the store read
(`Facts`), and returns the `Decision` with its timeline. Deciding again on fresher facts (a
sale that lost its race) reuses the verdicts computed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from app.domain.money import as_number, to_cents
from app.domain.routing import Decision, Facts, Needs, Resume, SaleTerms, Step
from app.domain.status import Status
from app.dsl.ruleset import LeadType, RuleSet
from app.pipeline.bidding import (
    SCHEDULE_CLOSED,
    Candidate,
    FactsLedger,
    StageRouter,
    exclusion,
)
from app.pipeline.dedupe import history_entry, lead_key_hashes
from app.pipeline.router import PRICE, STATUS, CategoryRouter, compile_routers
from app.pipeline.testmode import decide_test_lead
from app.pipeline.timeline import Timeline, why_not
from app.pipeline.verdicts import Conditions

_ROUTERS: WeakKeyDictionary[RuleSet, tuple[dict[str, CategoryRouter], Conditions]] = (
    WeakKeyDictionary()
)


def routers_of(ruleset: RuleSet) -> tuple[dict[str, CategoryRouter], Conditions]:
    """Return the rule set's routers by category, compiled once per rule set, and their
    verdict table (every condition evaluated in Python)."""
    found = _ROUTERS.get(ruleset)
    if found is None:
        conditions = Conditions()
        found = _ROUTERS[ruleset] = (compile_routers(ruleset, conditions), conditions)
    return found


class PreparedLead:
    """A lead about to be routed: what must be read for it, and how to decide on it."""

    def __init__(
        self,
        lead: Mapping[str, Any],
        ruleset: RuleSet,
        category: str,
        now: datetime,
        *,
        lead_id: int | None = None,
        is_test: bool = False,
        test_price_cents: int = 4500,
        audit: bool = True,
        start: int = 0,
        preferred: tuple[str, int] | None = None,
        resume: Resume | None = None,
    ) -> None:
        routers, conditions = routers_of(ruleset)
        self.router = router = routers[category]
        self.functions = conditions.functions
        self.lead = lead
        self.at = now.timestamp()
        self.lead_id = lead_id  # a stored lead routed again: never its own duplicate
        self.is_test = is_test
        self.test_price_cents = test_price_cents
        self.audit = audit and not is_test  # False: a reviewed lead, its audits skipped
        self.start = start  # the plan stage routing starts at (a reprocess from a stage)
        self.memo: list[Any] = [None] * len(self.functions)
        #: routing taken up at a calling stage: the lead's type kept, its checks passed
        self.resume = resume
        self.lead_type: LeadType | None
        if resume is not None:
            self.lead_type = next(
                t for t in ruleset.lead_types_of(category) if t.id == resume.lead_type
            )
            flagged: tuple[str, ...] = ()
            start = self.start = resume.stage
        else:
            self.lead_type, flagged = router.classify(
                lead, 0, self.memo, self.functions, audit=self.audit
            )
        self.keys: dict[int, str] = {}  # dedupe key slot -> its hash
        self.needs = Needs()
        self.open_bids: list[Any] = []
        #: a ping's bid (bid id, price cents) tried first, its candidate when open
        self.preferred = preferred
        self.preferred_bid: Candidate | None = None
        self.preferred_closed: str | None = None  # why the preferred bid is not open
        if is_test or self.lead_type is None or flagged:
            return
        if resume is None:
            hashes = lead_key_hashes(ruleset, lead, category)
            for check, slot, _ in router.dedupes:
                if check in hashes:
                    self.keys[slot] = hashes[check]
        self.open_bids = open_bids = router.open_bids(
            self.lead_type, lead, self.at, 0, self.memo, self.functions, start
        )
        if preferred is not None:
            self._find_preferred(preferred[0])
        counters = []
        for candidate in open_bids:
            for _, _, clock, period, _ in candidate.limits:
                counters.append((candidate.bid.id, period, clock.at(self.at)[2]))
        self.needs = Needs(
            key_hashes=tuple(sorted(set(self.keys.values()))),
            customers=tuple(sorted({candidate.customer for candidate in open_bids})),
            counters=tuple(dict.fromkeys(counters)),
            bids=tuple(candidate.bid.id for candidate in open_bids),
        )

    def _find_preferred(self, bid_id: str) -> None:
        """Find the preferred bid among the open ones, or say why it is not open."""
        for candidate in self.open_bids:
            if candidate.bid.id == bid_id:
                self.preferred_bid = candidate
                return
        assert self.lead_type is not None
        type_router = self.router.by_type[self.lead_type.id]
        for candidate in type_router.bids:
            if candidate.bid.id == bid_id:
                if candidate.hours is not None and not candidate.hours.is_open(self.at):
                    self.preferred_closed = why_not(candidate, SCHEDULE_CLOSED)
                else:
                    self.preferred_closed = "its condition no longer holds for the lead"
                return
        self.preferred_closed = f"the rules have no bid {bid_id} for this lead's type"

    def decide(self, facts: Facts) -> Decision:
        """Route the lead on what was read for its needs; return the decision.

        With a preferred bid (a ping's), that bid takes the lead at the ping's price when
        the plan would sell it and the bid can take it on these facts; otherwise the plan's
        decision stands and its timeline says why the bid was lost ("ping_bid_lost").
        """
        decision = self._decide(facts)
        if self.preferred is None or self.is_test:  # a test lead is decided by its zip
            return decision
        return self._prefer(facts, decision)

    def _prefer(self, facts: Facts, planned: Decision) -> Decision:
        """Return the preferred bid's sale, or the plan's decision with why it was lost."""
        assert self.preferred is not None
        bid_id, price = self.preferred
        candidate = self.preferred_bid
        reason = None
        if planned.status not in SELLABLE:
            reason = f"the lead is {planned.status}"
        elif candidate is None:
            reason = self.preferred_closed or "the lead cannot be sold to bids"
        else:
            candidate = replace(candidate, price=price)  # the ping's price, not today's
            ledger = FactsLedger(facts, (candidate,), self.at)
            excluded = exclusion(candidate, self.at, ledger)
            if excluded is not None:
                reason = why_not(candidate, excluded)
        if reason is not None or candidate is None:
            step = Step(
                "ping_bid_lost",
                f"Bid {bid_id} was lost: {reason}.",
                {"bid_id": bid_id, "price": as_number(price), "reason": reason},
            )
            return replace(planned, steps=(*planned.steps, step))
        bid = candidate.bid
        customer = facts.customers[bid.customer]
        steps = tuple(step for step in planned.steps if step.kind not in PLAN_STEPS)
        message = (
            f"Sold to {customer.slug} through bid {bid.id}"
            f" at the ping's price {as_number(price):.2f}."
        )
        details = {"bid_id": bid.id, "price": as_number(price)}
        terms = SaleTerms(
            customer_id=customer.id,
            bid_id=bid.id,
            price_cents=price,
            periods=tuple(
                sorted(
                    {
                        period: clock.at(self.at)[2] for _, _, clock, period, _ in candidate.limits
                    }.items()
                )
            ),
            cap=None if bid.cap is None else (bid.cap.period, bid.cap.limit),
            budget=None if bid.budget is None else (bid.budget.period, to_cents(bid.budget.amount)),
        )
        return Decision(
            Status.ASSIGNED,
            planned.lead_type,
            price,
            customer,
            bid.id,
            (*steps, Step("ping_bid", message, details)),
            planned.record_keys,
            terms,
        )

    def offers(self, facts: Facts) -> tuple[Decision, list[tuple[str, int]]]:
        """Decide a ping without selling it: the plan's decision, and the bids that could
        take the lead in the stage that sells it, best first (bid id, price cents)."""
        ledger = FactsLedger(facts, self.open_bids, self.at)
        timeline = _Offers(ledger)
        decision = self._decide(facts, timeline)
        return decision, timeline.ranked

    def _decide(self, facts: Facts, timeline: Timeline | None = None) -> Decision:
        if timeline is None:
            timeline = Timeline(FactsLedger(facts, self.open_bids, self.at))
        ledger = timeline.ledger
        router, lead_type = self.router, self.lead_type
        if self.is_test:
            timeline.classified(lead_type)
            type_id = lead_type.id if lead_type is not None else None
            return decide_test_lead(
                self.lead.get("zip"), type_id, timeline.steps, self.test_price_cents
            )
        if self.resume is not None:
            outcome = router.resume(self.lead, self.at, self.resume, ledger, timeline)
            return self._decision(outcome, timeline)
        memo = list(self.memo)
        for _, slot, _ in router.dedupes:
            digest = self.keys.get(slot)
            if digest is None:
                memo[slot] = False  # a field is missing
            else:
                memo[slot] = history_entry(digest, facts.keys.get(digest), self.lead_id)
        outcome = router.route(
            self.lead,
            self.at,
            0,
            memo,
            self.functions,
            ledger,
            timeline,
            audit=self.audit,
            start=self.start,
        )
        return self._decision(outcome, timeline)

    def _decision(self, outcome: tuple[Any, ...], timeline: Timeline) -> Decision:
        """Return the decision the router's outcome and its timeline make."""
        ledger = timeline.ledger
        status = outcome[STATUS]
        if status != Status.ASSIGNED:
            steps = tuple(timeline.steps)
            offer = outcome[PRICE] if status == Status.MARKETPLACE else None
            return Decision(
                status,
                outcome[1],
                outcome[PRICE] if status == Status.POSTED else 0,
                steps=steps,
                record_keys=timeline.record_keys,
                offer_cents=offer,
                altered=timeline.altered_data,
                outbound=timeline.calling if status == Status.PENDING else None,
                posted=timeline.sold_to,
                enriched=timeline.enriched_by,
            )
        sale = timeline.sale
        assert sale is not None  # a bid won: the timeline has its terms
        return Decision(
            status,
            outcome[1],
            sale.price_cents,
            ledger.customers[outcome[5]],
            sale.bid_id,
            tuple(timeline.steps),
            timeline.record_keys,
            sale,
            altered=timeline.altered_data,
            enriched=timeline.enriched_by,
        )


#: The plan's outcomes a preferred bid may replace: the lead could be sold.
SELLABLE = (Status.ASSIGNED, Status.UNASSIGNED, Status.MARKETPLACE, Status.PENDING)
#: Timeline steps of the plan's stages, replaced by the preferred bid's sale.
PLAN_STEPS = frozenset({"bidding", "assigned", "marketplace", "skipped", "unassigned", "calling"})


class _Offers(Timeline):
    """A timeline that keeps the ranked bids of the stage that sold the lead (a ping's).
    A ping calls no partner: a ping_post stage quotes Sluice's own bids alone."""

    calls_out = False

    def __init__(self, ledger: FactsLedger) -> None:
        super().__init__(ledger)
        self.ranked: list[tuple[str, int]] = []

    def auction(
        self,
        stage: StageRouter,
        considered: list[Candidate],
        set_aside: list[tuple[Candidate, str]],
        ranked: list[Candidate],
        at: float,
    ) -> None:
        """Note the stage, and keep its ranked bids when one can take the lead."""
        super().auction(stage, considered, set_aside, ranked, at)
        if ranked and not self.ranked:
            self.ranked = [(candidate.bid.id, candidate.price) for candidate in ranked]


def classify_lead(lead: Mapping[str, Any], ruleset: RuleSet, category: str) -> str | None:
    """Return the id of the lead type live routing gives the lead (the first by priority
    whose condition holds, else the fallback), or None when none does: the category's own
    router classifies it, its audits and everything after them left out."""
    routers, conditions = routers_of(ruleset)
    functions = conditions.functions
    memo: list[Any] = [None] * len(functions)
    lead_type, _ = routers[category].classify(lead, 0, memo, functions, audit=False)
    return lead_type.id if lead_type is not None else None
