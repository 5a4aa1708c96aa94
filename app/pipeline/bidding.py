"""Bidding: among the bids that may take the lead now, pick one to sell it to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.clock import naive
from app.domain.money import as_number, to_cents
from app.store import counters
from app.store.counters import BiddingRead
from app.store.customers import lock_customers
from app.store.sales import Sale

NEVER = datetime.min


def bid_periods(bid, now: datetime) -> dict[str, datetime]:
    """Return {period: its current start (naive UTC)} for the bid's cap and budget."""
    periods = {}
    for limit in (bid.cap, bid.budget):
        if limit is not None:
            periods[limit.period] = naive(bid.period_start(limit.period, now))
    return periods


def exclusion(bid, customer, used: dict, periods: dict[str, datetime]) -> str | None:
    """Return why the bid cannot take the lead now, or None when it can."""
    found = excluded_because(bid, customer, used, periods)
    return None if found is None else found[1]


def excluded_because(
    bid, customer, used: dict, periods: dict[str, datetime]
) -> tuple[str, str] | None:
    """Return (result code, message) when the bid cannot take the lead now, else None."""
    price = to_cents(bid.price)
    if customer is None:
        return "unknown_customer", f"customer {bid.customer} does not exist"
    if not customer.active:
        return "inactive_customer", f"customer {bid.customer} is inactive"
    if customer.balance_cents < price:
        return "wallet_short", f"customer {bid.customer} has insufficient funds"
    if bid.cap is not None:
        leads, _ = used.get((bid.id, bid.cap.period, periods[bid.cap.period]), (0, 0))
        if leads >= bid.cap.limit:
            return "cap_exhausted", f"cap reached ({bid.cap.limit} per {bid.cap.period})"
    if bid.budget is not None:
        _, spent = used.get((bid.id, bid.budget.period, periods[bid.budget.period]), (0, 0))
        if spent + price > to_cents(bid.budget.amount):
            return (
                "budget_exhausted",
                f"budget exhausted ({bid.budget.amount} per {bid.budget.period})",
            )
    return None


def rank(method: str | None, bids: list, last_won: dict[str, datetime]) -> list:
    """Order the eligible bids, best first.

    highest_price: by price, ties to the bid that won least recently, then file order.
    round_robin: the bid that won least recently first (never-won bids before all), so
    wins rotate among the bids that are eligible each time.
    """
    position = {bid.id: index for index, bid in enumerate(bids)}
    if method == "round_robin":
        return sorted(bids, key=lambda b: (last_won.get(b.id, NEVER), position[b.id]))
    return sorted(bids, key=lambda b: (-b.price, last_won.get(b.id, NEVER), position[b.id]))


def _decision(bid, result: str, reason: str, **extra) -> dict[str, Any]:
    entry = {
        "bid": bid.id,
        "customer": bid.customer,
        "price": str(bid.price),
        "result": result,
        "reason": reason,
    }
    entry.update(extra)
    return entry


def _losers(method: str | None, ranked: list, winner) -> list[dict[str, Any]]:
    """Say why each eligible bid but the winner lost."""
    out = []
    for bid in ranked[1:]:
        if method == "round_robin":
            out.append(
                _decision(
                    bid,
                    "lost_round_robin",
                    f"round robin: {winner.id} won less recently",
                    by=winner.id,
                )
            )
        elif bid.price < winner.price:
            out.append(
                _decision(bid, "outbid", f"outbid by {winner.id} ({winner.price})", by=winner.id)
            )
        else:
            out.append(
                _decision(
                    bid,
                    "lost_tie",
                    f"same price as {winner.id}, which won less recently or comes first",
                    by=winner.id,
                )
            )
    return out


@dataclass
class Candidates:
    """A bidding stage's bids on the lead, sorted out before anything is read."""

    decisions: list[dict[str, Any]]  # the bids set aside so far, with why
    bids: list  # the bids on the lead's type in this stage whose condition holds
    open_bids: list  # those whose schedule is open now
    reasons: dict[str, str]  # bid id -> why it was set aside after its condition
    periods: dict[str, dict[str, datetime]]  # bid id -> its cap and budget periods' starts

    def read(self, tenant_id: int) -> BiddingRead | None:
        """Return what must be read to decide among the open bids (None if there are none)."""
        if not self.open_bids:
            return None
        keys = [
            (bid.id, period, start)
            for bid in self.open_bids
            for period, start in self.periods[bid.id].items()
        ]
        return BiddingRead(
            tenant_id,
            frozenset(bid.customer for bid in self.open_bids),
            tuple(keys),
            tuple(bid.id for bid in self.open_bids),
        )


def candidates(stage, lead: dict[str, Any], lead_type, ruleset, now) -> Candidates:
    """Sort a bidding stage's bids on the lead: condition, stage list, schedule."""
    decisions: list[dict[str, Any]] = []
    bids = []
    for bid in ruleset.bids_by_lead_type.get(lead_type.id, ()):
        if bid.condition is not None and not bid.condition.predicate(lead):
            decisions.append(_decision(bid, "condition_false", "its condition is false"))
        elif stage.bids is not None and bid.id not in stage.bids:
            decisions.append(_decision(bid, "not_in_stage", "not in this stage's bid list"))
        else:
            bids.append(bid)
    reasons: dict[str, str] = {}
    open_bids = []
    for bid in bids:
        if bid.schedule is not None and not bid.schedule.is_open(now):
            reasons[bid.id] = "outside its schedule"
            decisions.append(_decision(bid, "schedule_closed", "outside its schedule"))
        else:
            open_bids.append(bid)
    periods = {bid.id: bid_periods(bid, now) for bid in open_bids}
    return Candidates(decisions, bids, open_bids, reasons, periods)


def run_bidding(
    stage,
    lead: dict[str, Any],
    lead_type,
    ruleset,
    *,
    tenant_id: int,
    lead_row,
    now,
    outcome,
    lock_buyers: bool = False,
    sorted_out: Candidates | None = None,
    read: tuple | None = None,
) -> bool:
    """Run one bidding stage; on a win, put the sale in the outcome and return True.

    Balances, counters and last wins are read without locks (`lock_buyers` takes the
    candidates' customer rows first, so the read is exact): the sale, written last by
    route_lead, re-checks in its own writes what the winner was chosen on. `sorted_out`
    and `read` are this stage's candidates and what was read for them, when the caller
    read it already (with the dedupe keys: a round trip less).

    The stage's timeline entry lists every bid on the lead's type with its result (won,
    outbid, condition_false, schedule_closed, cap_exhausted, ...), as decided now, so that
    explaining the lead later shows what happened rather than what today's counters say.
    """
    sorted_out = sorted_out or candidates(stage, lead, lead_type, ruleset, now)
    decisions, bids, open_bids = sorted_out.decisions, sorted_out.bids, sorted_out.open_bids
    reasons, periods = sorted_out.reasons, sorted_out.periods
    winner = None
    if open_bids:
        if lock_buyers:
            lock_customers(tenant_id, {bid.customer for bid in open_bids})
        if read is None:
            read = counters.read_bidding(sorted_out.read(tenant_id))
        customers, used, last_won = read
        eligible = []
        for bid in open_bids:
            found = excluded_because(bid, customers.get(bid.customer), used, periods[bid.id])
            if found is None:
                eligible.append(bid)
            else:
                reasons[bid.id] = found[1]
                decisions.append(_decision(bid, *found))
        ranked = rank(stage.method, eligible, last_won)
        winner = ranked[0] if ranked else None
        if winner is not None:
            decisions.append(_decision(winner, "won", "won the lead"))
            decisions.extend(_losers(stage.method, ranked, winner))
    details = {
        "method": stage.method,
        "bids": [bid.id for bid in bids],
        "excluded": reasons,
        "decisions": decisions,
    }
    if winner is None:
        outcome.note("bidding", "No bid could take the lead.", details)
        return False
    price = to_cents(winner.price)
    customer = customers[winner.customer]
    outcome.sale = Sale(
        tenant_id=tenant_id,
        customer_id=customer.id,
        bid_id=winner.id,
        price_cents=price,
        lead_id=lead_row.id,
        note=f"lead {lead_row.public_id}",
        at=naive(now),
        periods=tuple(sorted(periods[winner.id].items())),
        cap=None if winner.cap is None else (winner.cap.period, winner.cap.limit),
        budget=None
        if winner.budget is None
        else (winner.budget.period, to_cents(winner.budget.amount)),
        last_won=last_won.get(winner.id),
        check_last_won=_rank_used_last_win(stage.method, ranked),
    )
    outcome.status = "assigned"
    outcome.price_cents = price
    outcome.customer = customer
    outcome.bid_id = winner.id
    details.update(winner=winner.id, price=as_number(price))
    outcome.note(
        "assigned",
        f"Sold to {customer.slug} through bid {winner.id} for {as_number(price):.2f}.",
        details,
    )
    return True


def _rank_used_last_win(method: str | None, ranked: list) -> bool:
    """Tell whether the winner won on when it last won (round robin, or a tie on price)."""
    if method == "round_robin":
        return len(ranked) > 1
    return len(ranked) > 1 and ranked[1].price == ranked[0].price
