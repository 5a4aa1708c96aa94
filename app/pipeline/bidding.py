"""Bidding: among the bids that may take the lead now, pick one and charge its customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.store import counters
from app.store.clock import naive
from app.store.customers import charge, lock_customers
from app.store.money import as_number, to_cents

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
    price = to_cents(bid.price)
    if customer is None:
        return f"customer {bid.customer} does not exist"
    if not customer.active:
        return f"customer {bid.customer} is inactive"
    if customer.balance_cents < price:
        return f"customer {bid.customer} has insufficient funds"
    if bid.cap is not None:
        leads, _ = used.get((bid.id, bid.cap.period, periods[bid.cap.period]), (0, 0))
        if leads >= bid.cap.limit:
            return f"cap reached ({bid.cap.limit} per {bid.cap.period})"
    if bid.budget is not None:
        _, spent = used.get((bid.id, bid.budget.period, periods[bid.budget.period]), (0, 0))
        if spent + price > to_cents(bid.budget.amount):
            return f"budget exhausted ({bid.budget.amount} per {bid.budget.period})"
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


def run_bidding(
    stage, lead: dict[str, Any], lead_type, ruleset, *, tenant_id: int, lead_row, now, outcome
) -> bool:
    """Run one bidding stage; on a win, charge and record it and return True."""
    bids = ruleset.eligible_bids(lead, lead_type)
    if stage.bids is not None:
        bids = [bid for bid in bids if bid.id in stage.bids]
    reasons: dict[str, str] = {}
    open_bids = []
    for bid in bids:
        if bid.schedule is not None and not bid.schedule.is_open(now):
            reasons[bid.id] = "outside its schedule"
        else:
            open_bids.append(bid)
    winner = None
    if open_bids:
        # Lock every candidate's customer before reading balances and counters: whoever
        # holds a customer's row is the only one charging it or counting its bids' wins.
        customers = lock_customers(tenant_id, {bid.customer for bid in open_bids})
        periods = {bid.id: bid_periods(bid, now) for bid in open_bids}
        keys = [(bid.id, p, start) for bid in open_bids for p, start in periods[bid.id].items()]
        used = counters.usage(tenant_id, keys)
        eligible = []
        for bid in open_bids:
            reason = exclusion(bid, customers.get(bid.customer), used, periods[bid.id])
            if reason is None:
                eligible.append(bid)
            else:
                reasons[bid.id] = reason
        ranked = rank(
            stage.method, eligible, counters.last_wins(tenant_id, [b.id for b in eligible])
        )
        winner = ranked[0] if ranked else None
    details = {"method": stage.method, "bids": [bid.id for bid in bids], "excluded": reasons}
    if winner is None:
        outcome.note("bidding", "No bid could take the lead.", details)
        return False
    price = to_cents(winner.price)
    customer = customers[winner.customer]
    balance = charge(customer, price, lead_row)
    counters.count_win(tenant_id, winner.id, periods[winner.id], price)
    counters.record_win(tenant_id, winner.id, naive(now))
    outcome.status = "assigned"
    outcome.price_cents = price
    outcome.customer = customer
    outcome.bid_id = winner.id
    details.update(winner=winner.id, price=as_number(price), balance_after=as_number(balance))
    outcome.note(
        "assigned",
        f"Sold to {customer.slug} through bid {winner.id} for {as_number(price):.2f}.",
        details,
    )
    return True
