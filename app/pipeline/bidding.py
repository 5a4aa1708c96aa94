"""Bidding: which bids may take a lead now, and which of them wins.

A bid is set aside, in this order, when its condition is false, when the stage lists other
bids, when its schedule is closed, when its customer is unknown or inactive, when the
customer's wallet is short of the price, when its cap is reached or when the price would
exceed its budget (both for the current period, in the bid's time zone). Among the bids
left, `highest_price` ranks by price, then least recent win, then file order;
`round_robin` by least recent win, then file order.

What changes from one lead to the next (customers, counters, last wins) comes from a
`Ledger`: live routing's is what the store read for the lead (`FactsLedger`); the dry-run's
is the replay's own state in memory (app/analysis/replay.py), which also lets an auction
skip a bid found over its cap or budget until its period ends (`spent`: its counters only
grow within a period) and remember each bid's customer verdict (`customer_verdicts`: its
customers do not change).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from app.domain.routing import CustomerFacts, Facts
from app.dsl.ruleset import Bid
from app.pipeline.calendar import OpenHours, PeriodClock

NEVER = float("-inf")
ROUND_ROBIN = "round_robin"

CONDITION_FALSE = "condition_false"
NOT_IN_STAGE = "not_in_stage"
SCHEDULE_CLOSED = "schedule_closed"
UNKNOWN_CUSTOMER = "unknown_customer"
INACTIVE_CUSTOMER = "inactive_customer"
WALLET_SHORT = "wallet_short"
CAP_EXHAUSTED = "cap_exhausted"
BUDGET_EXHAUSTED = "budget_exhausted"

#: A cap or budget: (is a cap, its limit (leads or cents), the period's clock, the period's
#: name, its position among the bid's limits)
Limit = tuple[bool, int, PeriodClock, str, int]


@dataclass(frozen=True, eq=False, slots=True)
class Candidate:
    """A bid as an auction tries it."""

    bid: Bid
    index: int  # position among the rule set's bids (file order)
    bit: int  # its condition's bit in the mask, -1: none or a slot
    slot: int  # its condition's slot in the memo, -1: none or a bit
    price: int  # cents
    customer: str
    limits: tuple[Limit, ...]
    hours: OpenHours | None  # None: always open
    flag: int  # its bit in a set of its category's bids


class Ledger(Protocol):
    """What changes from one lead to the next, as bidding reads and updates it."""

    @property
    def side(self) -> int:
        """Return its place in the dedupe history entries."""

    @property
    def customers(self) -> Mapping[str, Any]:
        """Return slug -> an object with `active` and `balance_cents`."""

    @property
    def last_won(self) -> Mapping[str, float]:
        """Return bid id -> when it last won, in epoch seconds."""

    @property
    def usage(self) -> Any:
        """Return bid index -> per limit [period start, leads, cents]."""

    @property
    def spent(self) -> list[float] | None:
        """Return bid index -> until when it is skipped, or None."""

    @property
    def customer_verdicts(self) -> MutableMapping[Candidate, str | None] | None:
        """Return candidate -> its customer_exclusion, remembered, or None."""

    def won(self, candidate: Candidate, at: float) -> None:
        """Take note of a sale."""


@dataclass(frozen=True, eq=False, slots=True)
class StageRouter:
    """A bidding stage of a lead type: the bids it tries, in the order it tries them."""

    method: str | None
    listed: frozenset[str] | None  # the stage's bid list, None: every bid
    #: highest_price: by price then file order (equal prices next to each other); round
    #: robin: file order
    tried: tuple[Candidate, ...]
    ties: bool  # two of them have the same price


def customer_exclusion(candidate: Candidate, customers: Mapping[str, Any]) -> str | None:
    """Return why the bid's customer cannot buy the lead (unknown, inactive, wallet short)."""
    customer = customers.get(candidate.customer)
    if customer is None:
        return UNKNOWN_CUSTOMER
    if not customer.active:
        return INACTIVE_CUSTOMER
    if customer.balance_cents < candidate.price:
        return WALLET_SHORT
    return None


def exhausted_limit(candidate: Candidate, at: float, usage: Any) -> Limit | None:
    """Return the bid's cap or budget that this lead would exceed in the current period.

    `usage[bid index][limit position]` is [period start, leads, cents]: counts of another
    period than the current one count nothing (a new period has used nothing yet).
    """
    for limit in candidate.limits:
        is_cap, amount, clock, _, position = limit
        span = clock.span
        if not span[0] <= at < span[1]:
            span = clock.at(at)
        used = usage[candidate.index][position]
        if used[0] != span[0]:
            used[0], used[1], used[2] = span[0], 0, 0
        if used[1] >= amount if is_cap else used[2] + candidate.price > amount:
            return limit
    return None


def exclusion(candidate: Candidate, at: float, ledger: Ledger) -> str | None:
    """Return why an open bid cannot take the lead now, or None when it can."""
    found = customer_exclusion(candidate, ledger.customers)
    if found is None and candidate.limits:
        limit = exhausted_limit(candidate, at, ledger.usage)
        if limit is not None:
            return CAP_EXHAUSTED if limit[0] else BUDGET_EXHAUSTED
    return found


def rank_key(
    method: str | None, candidate: Candidate, last_won: Mapping[str, float]
) -> tuple[Any, ...]:
    """Return the bid's place in the ranking (lowest first)."""
    won = last_won.get(candidate.bid.id, NEVER)
    if method == ROUND_ROBIN:
        return (won, candidate.index)
    return (-candidate.price, won, candidate.index)


def rank_used_last_win(method: str | None, ranked: Sequence[Candidate]) -> bool:
    """Tell whether the winner won on when it last won (round robin, or a tie on price)."""
    if method == ROUND_ROBIN:
        return len(ranked) > 1
    return len(ranked) > 1 and ranked[1].price == ranked[0].price


def sort_out(
    bids: tuple[Candidate, ...], stage: StageRouter, eligible: int, at: float
) -> tuple[list[tuple[Candidate, str]], list[Candidate], list[Candidate]]:
    """Return (the bids set aside before anything is read, with why; the bids whose condition
    holds and the stage takes; those of them open now), each in file order."""
    set_aside = []
    considered = []
    listed = stage.listed
    for candidate in bids:
        if not candidate.flag & eligible:
            set_aside.append((candidate, CONDITION_FALSE))
        elif listed is not None and candidate.bid.id not in listed:
            set_aside.append((candidate, NOT_IN_STAGE))
        else:
            considered.append(candidate)
    open_bids = []
    for candidate in considered:
        if candidate.hours is not None and not candidate.hours.is_open(at):
            set_aside.append((candidate, SCHEDULE_CLOSED))
        else:
            open_bids.append(candidate)
    return set_aside, considered, open_bids


def run_auction(stage: StageRouter, eligible: int, at: float, ledger: Ledger) -> Candidate | None:
    """Return the stage's winner among the eligible bids (flags) open at `at`, or None.

    The bids are tried in the stage's order: for highest_price the first that can take the
    lead wins, unless bids of the same price can too (then the ranking decides among them,
    and a cheaper one ends the search); round robin ranks every bid that can take it.
    """
    method, ties, spent = stage.method, stage.ties, ledger.spent
    customers, verdicts = ledger.customers, ledger.customer_verdicts
    winner, best = None, None
    for candidate in stage.tried:
        if not candidate.flag & eligible:
            continue
        if spent is not None and at < spent[candidate.index]:
            continue
        if candidate.hours is not None and not candidate.hours.is_open(at):
            continue
        if verdicts is None:
            if customer_exclusion(candidate, customers) is not None:
                continue
        else:  # customers that do not change: each bid's verdict once
            verdict = verdicts.get(candidate, False)
            if verdict is False:
                verdict = verdicts[candidate] = customer_exclusion(candidate, customers)
            if verdict is not None:
                continue
        if candidate.limits:
            limit = exhausted_limit(candidate, at, ledger.usage)
            if limit is not None:
                if spent is not None:  # counters only grow within the period: until it ends
                    spent[candidate.index] = limit[2].span[1]
                continue
        if method != ROUND_ROBIN:
            if winner is None:
                winner = candidate
                if not ties:
                    break
                best = rank_key(method, candidate, ledger.last_won)
                continue
            if candidate.price != winner.price:
                break  # cheaper: the best price's bids have all been seen
        key = rank_key(method, candidate, ledger.last_won)
        if best is None or key < best:
            winner, best = candidate, key
    if winner is not None:
        ledger.won(winner, at)
    return winner


def rank_open_bids(
    open_bids: list[Candidate], stage: StageRouter, at: float, ledger: Ledger
) -> tuple[list[tuple[Candidate, str]], list[Candidate]]:
    """Return (the open bids that cannot take the lead, with why; the others, ranked), and
    record the winner's sale in the ledger: the auction of a lead whose every bid's
    decision is wanted (live routing's timeline)."""
    excluded, eligible = [], []
    for candidate in open_bids:
        reason = exclusion(candidate, at, ledger)
        if reason is None:
            eligible.append(candidate)
        else:
            excluded.append((candidate, reason))
    method, last_won = stage.method, ledger.last_won
    ranked = sorted(eligible, key=lambda candidate: rank_key(method, candidate, last_won))
    if ranked:
        ledger.won(ranked[0], at)
    return excluded, ranked


def epoch(moment: datetime) -> float:
    """Return a naive UTC datetime in epoch seconds."""
    return moment.replace(tzinfo=UTC).timestamp()


class FactsLedger:
    """Live routing's ledger: what the store read for this lead, nothing remembered."""

    side = 0  # its place in the dedupe history entries
    spent = None
    customer_verdicts = None

    def __init__(self, facts: Facts, candidates: Iterable[Candidate] = (), at: float = 0.0):
        """Hold the facts, the usage of the candidates' limits in their periods at `at`."""
        self.facts = facts
        self.customers: Mapping[str, CustomerFacts] = facts.customers
        self.last_won = {bid_id: epoch(moment) for bid_id, moment in facts.last_won.items()}
        self.usage: dict[int, list[list[Any]]] = {}
        for candidate in candidates:
            self.usage[candidate.index] = [
                [span[0], *facts.usage.get((candidate.bid.id, period, span[2]), (0, 0))]
                for span, period in (
                    (clock.at(at), period) for _, _, clock, period, _ in candidate.limits
                )
            ]

    def won(self, candidate: Candidate, at: float) -> None:
        """Nothing to remember: the store writes the sale."""
