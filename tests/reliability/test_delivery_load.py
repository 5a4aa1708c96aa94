"""Delivery under load, and workers killed: gunicorn, two `sluice worker` processes and a real
buyer on loopback, on PostgreSQL.

- Several clients post leads while two workers deliver every sale to a buyer that records
  each request (its `webhook-id`, when it arrived and when it was answered); one worker is
  killed with SIGKILL while it has attempts in flight. Afterwards every sold lead was
  delivered at least once (the buyer answered its `webhook-id` with a 2xx and the delivery
  is `delivered`), no delivery exists or reached the buyer for a lead not sold, and the
  attempts of one delivery never overlap: at the buyer, each began after the one before
  was answered (unless that one was the killed worker's, cut off by its death), and in the
  attempt rows each started after the one before had ended.
- A worker killed in the middle of an attempt: another worker sends the same delivery again
  with the same `webhook-id` within a second or two (the dead worker's session lock is
  gone), not after the claim's 60-second lease.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict

from app.store.db import database
from app.store.models import Delivery, DeliveryAttempt, Lead
from tests.reliability.conftest import add_destinations, scaled, set_up_tenant
from tests.reliability.load import (
    RULES,
    WALLETS,
    Planned,
    check_answers,
    check_duplicate_groups,
    check_outbox,
    check_tables,
    plan_workload,
    run_load,
    send,
)

#: Each customer's destination: slow answers (so that attempts are in flight when the worker
#: dies; epsilon buys most, through the middle of the load), or a first attempt that fails
#: (so that deliveries have retries).
PATHS = {
    "alpha": "/slow",
    "beta": "/first-fails",
    "gamma": "/first-fails",
    "delta": "/first-fails",
    "epsilon": "/slow",
}
RETRY_SCHEDULE = [1, 1, 1, 1, 1]  # seconds (±20%): retries within the test's time
SETTLE_SECONDS = 30.0  # the most the workers may take to deliver what is left after the load
LEASE_SECONDS = 60.0


def sending_by(worker_id: int) -> int:
    """Return how many deliveries the worker has claimed and not settled."""
    row = database.execute_sql(
        "SELECT count(*) FROM delivery WHERE status = 'sending' AND claimed_by_id = %s",
        (worker_id,),
    ).fetchone()
    database.close()
    return row[0]


def wait_until_settled(seconds: float = SETTLE_SECONDS) -> None:
    """Wait until no delivery is pending or being sent."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = Delivery.select().where(Delivery.status.in_(("pending", "sending"))).count()
        database.close()
        if left == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{left} deliveries still pending or sending after {seconds:.0f} s")


def test_every_sale_is_delivered_while_a_worker_is_killed(
    app, database_url, secret_key, buyer, gunicorn_factory, worker_factory
):
    credentials = set_up_tenant(RULES, WALLETS)
    add_destinations(credentials.tenant_id, PATHS, buyer.url, RETRY_SCHEDULE)
    server = gunicorn_factory(database_url, workers=4)
    doomed, survivor = worker_factory(), worker_factory()
    planned = plan_workload(scaled(300), seed=23)
    killed: dict[str, float] = {}
    answered: list = []

    def on_result(result) -> None:
        answered.append(result)
        late = len(answered) >= 2 * len(planned) // 3
        if not killed and len(answered) >= len(planned) // 10:
            if late or sending_by(doomed.id) >= 1:  # mid-attempt (else the test fails)
                os.kill(doomed.process.pid, signal.SIGKILL)
                killed["at"] = time.time()

    results = run_load([server.url], credentials.auth, planned, clients=8, on_result=on_result)
    assert killed, "the load ended before a worker was killed"
    assert [r.error for r in results if r.status is None] == []
    check_answers(results)
    check_duplicate_groups(results)
    check_tables(results)
    wait_until_settled()
    assert doomed.process.wait(timeout=5) == -signal.SIGKILL
    survivor.process.send_signal(signal.SIGTERM)
    assert survivor.process.wait(timeout=30) == 0, survivor.log()[-3000:]

    counts = check_outbox()
    deliveries = {d.public_id: d for d in Delivery.select()}
    assert counts["sold"] >= 30 and len(deliveries) == counts["deliveries"]
    assert {d.status for d in deliveries.values()} == {"delivered"}
    requests = defaultdict(list)
    for request in buyer.received:
        requests[request.headers["webhook-id"]].append(request)
    assert set(requests) == set(deliveries), "the buyer received other ids than the sales'"
    for webhook_id, received in requests.items():
        assert any(200 <= r.status < 300 for r in received), webhook_id
        received.sort(key=lambda r: r.received_at)
        for before, after in zip(received, received[1:], strict=False):
            cut_off = before.received_at < killed["at"] < after.received_at
            assert after.received_at >= before.answered_at or cut_off, (
                f"{webhook_id}: an attempt began before the one before it was answered"
            )
    attempts = defaultdict(list)
    for attempt in DeliveryAttempt.select().order_by(DeliveryAttempt.number):
        attempts[attempt.delivery_id].append(attempt)
    for delivery in deliveries.values():
        rows = attempts[delivery.id]
        assert [a.number for a in rows] == sorted({a.number for a in rows}), delivery.public_id
        assert rows[-1].number == delivery.attempts and rows[-1].outcome == "delivered"
        for before, after in zip(rows, rows[1:], strict=False):
            ended = before.started_at.timestamp() + before.duration_ms / 1000
            assert after.started_at.timestamp() >= ended, f"{delivery.public_id} overlaps"
    retried = sum(1 for rows in attempts.values() if len(rows) > 1)
    taken_over = [d.public_id for d in deliveries.values() if d.attempts > len(attempts[d.id])]
    assert retried >= 5, "too few deliveries were retried to test overlaps"
    assert taken_over, "the killed worker had no attempt in flight"
    print(
        f"\ndelivery load: {len(results)} requests, {counts['sold']} sold, "
        f"{len(buyer.received)} requests at the buyer for {len(deliveries)} deliveries; "
        f"{retried} retried, {len(taken_over)} taken over from the killed worker"
    )


def test_a_worker_killed_mid_attempt_is_replaced_within_seconds(
    app, database_url, secret_key, buyer, gunicorn_factory, worker_factory
):
    credentials = set_up_tenant(RULES, WALLETS)
    add_destinations(credentials.tenant_id, dict.fromkeys(WALLETS, "/hang-once"), buyer.url, None)
    server = gunicorn_factory(database_url, workers=1)
    lead = {"first_name": "Ann", "phone": "555-201-0001", "state": "FL", "zip": "33139"}
    body = json.dumps({**lead, "kind": "Roof"}).encode()
    result = send(server.url, credentials.auth, Planned(1, "fresh", body, "application/json"))
    assert result.status == 201 and result.body["status"] == "assigned", result.body
    first = worker_factory()
    deadline = time.monotonic() + 15
    while not buyer.received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(buyer.received) == 1, "the first worker sent nothing"  # and it hangs there
    second = worker_factory()
    os.kill(first.process.pid, signal.SIGKILL)
    killed_at = time.time()
    deadline = time.monotonic() + LEASE_SECONDS / 2
    while len(buyer.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(buyer.received) == 2, "no other worker sent the delivery again"
    hung, retry = buyer.received
    took = retry.received_at - killed_at
    assert took < 5, f"taken over after {took:.1f} s"  # the session lock, not the lease
    assert hung.headers["webhook-id"] == retry.headers["webhook-id"]
    wait_until_settled(10)
    sold = Lead.get(Lead.public_id == result.body["lead_public_id"])
    delivery = Delivery.get(Delivery.lead == sold)
    assert delivery.public_id == retry.headers["webhook-id"]
    assert delivery.status == "delivered" and delivery.attempts == 2
    [attempt] = DeliveryAttempt.select().where(DeliveryAttempt.delivery == delivery)
    assert (attempt.number, attempt.worker, attempt.outcome) == (2, second.id, "delivered")
    print(f"\nkill -9 mid-attempt: sent again with the same webhook-id {took:.2f} s later")
