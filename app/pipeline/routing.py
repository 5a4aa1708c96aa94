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
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from app.domain.routing import Decision, Facts, Needs
from app.domain.status import Status
from app.dsl.ruleset import RuleSet
from app.pipeline.bidding import FactsLedger
from app.pipeline.dedupe import history_entry, lead_key_hashes
from app.pipeline.router import PRICE, STATUS, CategoryRouter, compile_routers
from app.pipeline.testmode import decide_test_lead
from app.pipeline.timeline import Timeline
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
        self.lead_type, flagged = router.classify(
            lead, 0, self.memo, self.functions, audit=self.audit
        )
        self.keys: dict[int, str] = {}  # dedupe key slot -> its hash
        self.needs = Needs()
        self.open_bids: list[Any] = []
        if is_test or self.lead_type is None or flagged:
            return
        hashes = lead_key_hashes(ruleset, lead, category)
        for check, slot, _ in router.dedupes:
            if check in hashes:
                self.keys[slot] = hashes[check]
        self.open_bids = open_bids = router.open_bids(
            self.lead_type, lead, self.at, 0, self.memo, self.functions, start
        )
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

    def decide(self, facts: Facts) -> Decision:
        """Route the lead on what was read for its needs; return the decision."""
        ledger = FactsLedger(facts, self.open_bids, self.at)
        timeline = Timeline(ledger)
        router, lead_type = self.router, self.lead_type
        if self.is_test:
            timeline.classified(lead_type)
            type_id = lead_type.id if lead_type is not None else None
            return decide_test_lead(
                self.lead.get("zip"), type_id, timeline.steps, self.test_price_cents
            )
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
        status = outcome[STATUS]
        if status != Status.ASSIGNED:
            steps = tuple(timeline.steps)
            offer = outcome[PRICE] if status == Status.MARKETPLACE else None
            return Decision(
                status,
                outcome[1],
                steps=steps,
                record_keys=timeline.record_keys,
                offer_cents=offer,
                altered=timeline.altered_data,
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
        )


def classify_lead(lead: Mapping[str, Any], ruleset: RuleSet, category: str) -> str | None:
    """Return the id of the lead type live routing gives the lead (the first by priority
    whose condition holds, else the fallback), or None when none does: the category's own
    router classifies it, its audits and everything after them left out."""
    routers, conditions = routers_of(ruleset)
    functions = conditions.functions
    memo: list[Any] = [None] * len(functions)
    lead_type, _ = routers[category].classify(lead, 0, memo, functions, audit=False)
    return lead_type.id if lead_type is not None else None
