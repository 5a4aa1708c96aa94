"""The outbox's claims and settles: batches settle as attempts one by one would, and a gone
worker's claims are made due again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.store.db import is_postgresql
from app.store.deliveries import (
    PausePolicy,
    Settlement,
    Waker,
    claim_due,
    register_worker,
    release_abandoned,
    settle,
)
from app.store.destinations import create_destination
from app.store.models import Customer, Delivery, DeliveryAttempt, DeliveryDestination, LeadEvent

LEASE = timedelta(seconds=60)


@pytest.fixture
def sales(world, db, secret_key, seed_lead):
    """Return the destination bargain's sales go to, after three sales to bargain."""
    bargain = Customer.get(Customer.slug == "bargain")
    destination = create_destination(
        bargain.tenant, {"name": "crm", "kind": "http", "url": "http://127.0.0.1:9/"}, bargain
    )
    db.close()
    for n in range(3):
        lead = {**seed_lead, "email": f"lead{n}@example.com", "phone": f"555-201-000{n}"}
        assert world.post(lead).json["status"] == "assigned"
    assert Delivery.select().count() == 3  # all three to bargain: its bid wins the example's
    return destination


def attempt(claimed, outcome: str, **values) -> Settlement:
    return Settlement(claimed, started_at=utcnow(), duration_ms=12.0, outcome=outcome, **values)


@pytest.mark.parametrize(
    ("outcomes", "failures"),
    [
        (["retry", "delivered", "failed"], 1),  # the success reset the streak, then one more
        (["failed", "retry", "delivered"], 0),
        (["delivered", "retry", "retry"], 2),
    ],
)
def test_a_batch_keeps_the_failure_streak_in_the_order_its_attempts_ended(
    sales, db, outcomes, failures
):
    worker = register_worker("test", 1)
    claimed = claim_due(worker, 10, LEASE)
    retry_at = utcnow() + timedelta(minutes=5)
    settled = settle(
        worker,
        [
            attempt(
                c,
                outcome,
                status_code=200 if outcome == "delivered" else 500,
                error=None if outcome == "delivered" else "HTTP 500",
                next_attempt_at=retry_at if outcome == "retry" else None,
            )
            for c, outcome in zip(claimed, outcomes, strict=True)
        ],
        PausePolicy(),
    )
    expected = {"delivered": "delivered", "retry": "pending", "failed": "dead"}
    assert [s.status for s in settled] == [expected[o] for o in outcomes]
    for c, outcome in zip(claimed, outcomes, strict=True):
        delivery = Delivery.get_by_id(c.id)
        assert delivery.status == expected[outcome] and delivery.claimed_by_id is None
    assert DeliveryAttempt.select().count() == 3
    destination = DeliveryDestination.get_by_id(sales.id)
    assert destination.failures == failures
    assert (destination.failing_since is None) == (failures == 0)
    kinds = sorted(e.kind for e in LeadEvent.select().where(LeadEvent.kind.startswith("deliver")))
    assert kinds == sorted(
        {"delivered": "delivered", "failed": "delivery_failed"}[o] for o in outcomes if o != "retry"
    )


def test_delivered_attempts_settle_together_and_a_claim_taken_over_is_left(sales, db):
    worker, other = register_worker("test", 1), register_worker("test", 2)
    DeliveryDestination.update(failures=5, failing_since=utcnow()).execute()
    first, second, third = claim_due(worker, 10, LEASE)
    Delivery.update(claimed_by=other).where(Delivery.id == second.id).execute()  # taken over
    settled = settle(
        worker,
        [attempt(c, "delivered", status_code=200, answer="ok") for c in (first, second, third)],
        PausePolicy(),
    )
    assert [(s.status, s.lease_lost) for s in settled] == [
        ("delivered", False),
        ("sending", True),
        ("delivered", False),
    ]
    assert Delivery.get_by_id(second.id).claimed_by_id == other  # left to its claimant
    rows = {a.delivery_id: a for a in DeliveryAttempt.select()}
    assert set(rows) == {first.id, second.id, third.id}  # every attempt is recorded
    assert (rows[first.id].number, rows[first.id].worker, rows[first.id].answer) == (
        1,
        worker,
        "ok",
    )
    events = LeadEvent.select().where(LeadEvent.kind == "delivered")
    assert sorted(e.lead_id for e in events) == sorted([first.lead_id, third.lead_id])
    [event] = [e for e in events if e.lead_id == first.lead_id]
    assert event.details["url"] == f"/api/admin/deliveries/{first.public_id}"
    destination = DeliveryDestination.get_by_id(sales.id)
    assert (destination.failures, destination.failing_since) == (0, None)


def test_a_gone_workers_claims_are_due_again(sales, db):
    gone, alive, claimer = (register_worker("test", pid) for pid in (1, 2, 3))
    gone_lock = Waker(gone) if is_postgresql() else None  # its session lock, while it lives
    try:
        [mine] = claim_due(gone, 1, LEASE)
        if is_postgresql():
            assert release_abandoned(claimer) == 0  # alive: never taken before its lease ends
            gone_lock.close()  # the worker's connection closes: it is gone
        assert release_abandoned(claimer) == 1
        delivery = Delivery.get_by_id(mine.id)
        assert (delivery.status, delivery.claimed_by_id) == ("pending", None)
        [again] = claim_due(claimer, 1, LEASE)
        assert again.id == mine.id and again.attempts == 2  # the same delivery, retried
        settle(claimer, [attempt(again, "delivered", status_code=200)], PausePolicy())
        # A lease that ended is abandoned too, whoever holds it (the claimant itself included).
        [expired] = claim_due(alive, 1, timedelta(seconds=-1))
        assert release_abandoned(alive) == 1
        assert Delivery.get_by_id(expired.id).status == "pending"
    finally:
        if gone_lock is not None:
            gone_lock.close()
