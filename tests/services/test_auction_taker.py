"""The auction's side of a fill's routing transaction, attempt by attempt: a retry after
the auction's own sale lost means the customer could not pay; a retry after the plan's
sale lost keeps the auction's first reason."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.domain.routing import CustomerFacts, Decision
from app.domain.status import Status
from app.services import auctions
from app.store.auctions import FillState
from app.store.models import Auction, Lead, Post

NOW = datetime(2026, 12, 7, 12, 0)
BUYER = CustomerFacts(7, "cus_x", "gamma", True, 10_000)
PLANNED = Decision(Status.UNASSIGNED, "solar")


def taker(monkeypatch, status: str, is_test: bool = False):
    monkeypatch.setattr(
        auctions, "lock_for_fill", lambda auction_id, now: FillState(status, 0, 1, BUYER)
    )
    auction = Auction(id=1, public_id="auc_x", price_cents=3000, criteria={})
    fill = auctions.Fill(auction)
    return fill, auctions._Taker(fill, Post(status_code=201), Lead(is_test=is_test), NOW)


def test_the_auctions_sale_then_a_retry_means_the_customer_could_not_pay(monkeypatch):
    fill, side = taker(monkeypatch, "open")
    side.lock()
    sale = side.decide(PLANNED)
    assert (sale.status, sale.customer, sale.price_cents, sale.bid_id) == (
        Status.ASSIGNED,
        BUYER,
        3000,
        "auction:auc_x",
    )
    assert sale.sale.customer_id == 7 and sale.sale.periods == ()
    side.lock()  # the sale lost its race: decided again
    assert side.decide(PLANNED) is PLANNED
    assert (fill.refusal, fill.status_code, side.post.status_code) == ("unpaid", 409, 409)


@pytest.mark.parametrize("status", ["filled", "expired", "canceled"])
def test_a_closed_auction_keeps_its_reason_when_the_plans_sale_is_retried(monkeypatch, status):
    fill, side = taker(monkeypatch, status)
    for _ in range(3):
        side.lock()
        assert side.decide(PLANNED) is PLANNED
        assert (fill.refusal, fill.details) == ("closed", {"auction_status": status})


@pytest.mark.parametrize(
    "planned, is_test, status",
    [
        (Decision(Status.DUPLICATE), False, "duplicate"),
        (Decision(Status.AUDIT), False, "audit"),
        (PLANNED, True, None),
    ],
)
def test_a_lead_the_plan_would_not_sell_does_not_fill(monkeypatch, planned, is_test, status):
    fill, side = taker(monkeypatch, "open", is_test)
    side.lock()
    assert side.decide(planned) is planned
    assert (fill.refusal, fill.status_code) == ("ineligible", 422)
    assert fill.details.get("lead_status") == status
