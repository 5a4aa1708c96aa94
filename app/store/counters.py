"""Bid counters behind caps and budgets, and when each bid last won.

Only the transaction holding the bid's customer row lock writes these rows, so reading
them after taking that lock gives the exact current usage.
"""

from __future__ import annotations

from datetime import datetime

from app.store.models import BidCounter, BidState


def usage(tenant_id: int, keys: list[tuple[str, str, datetime]]) -> dict[tuple, tuple[int, int]]:
    """Return {(bid_id, period, period_start): (leads, spent_cents)} for the keys that exist."""
    if not keys:
        return {}
    wanted = set(keys)
    bid_ids = sorted({bid_id for bid_id, _, _ in keys})
    starts = sorted({start for _, _, start in keys})
    rows = BidCounter.select().where(
        (BidCounter.tenant == tenant_id)
        & BidCounter.bid_id.in_(bid_ids)
        & BidCounter.period_start.in_(starts)
    )
    found = {}
    for row in rows:
        key = (row.bid_id, row.period, row.period_start)
        if key in wanted:
            found[key] = (row.leads, row.spent_cents)
    return found


def count_win(tenant_id: int, bid_id: str, periods: dict[str, datetime], price_cents: int) -> None:
    """Add one lead and its price to the bid's counters of each period."""
    rows = [
        {
            "tenant": tenant_id,
            "bid_id": bid_id,
            "period": period,
            "period_start": start,
            "leads": 1,
            "spent_cents": price_cents,
        }
        for period, start in sorted(periods.items())
    ]
    if rows:  # one upsert for the cap's and the budget's periods
        (
            BidCounter.insert_many(rows)
            .on_conflict(
                conflict_target=[
                    BidCounter.tenant,
                    BidCounter.bid_id,
                    BidCounter.period,
                    BidCounter.period_start,
                ],
                update={
                    BidCounter.leads: BidCounter.leads + 1,
                    BidCounter.spent_cents: BidCounter.spent_cents + price_cents,
                },
            )
            .execute()
        )


def last_wins(tenant_id: int, bid_ids: list[str]) -> dict[str, datetime]:
    """Return {bid_id: when it last won} for the bids that have won."""
    if not bid_ids:
        return {}
    rows = BidState.select().where(
        (BidState.tenant == tenant_id) & BidState.bid_id.in_(sorted(set(bid_ids)))
    )
    return {row.bid_id: row.last_won_at for row in rows}


def record_win(tenant_id: int, bid_id: str, at: datetime) -> None:
    """Remember when the bid won."""
    (
        BidState.insert(tenant=tenant_id, bid_id=bid_id, last_won_at=at)
        .on_conflict(
            conflict_target=[BidState.tenant, BidState.bid_id],
            update={BidState.last_won_at: at},
        )
        .execute()
    )
