"""The worker against real buyers on loopback: what a sale sends, retries, dead letters."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from app.domain.clock import utcnow
from app.domain.delivery import DEAD, DELIVERED, PENDING
from app.services.worker import Worker, WorkerSettings
from app.store.deliveries import PausePolicy
from app.store.destinations import create_destination
from app.store.models import Customer, Delivery, DeliveryAttempt, DeliveryDestination, LeadEvent

DELIVERABLE = {"first_name", "last_name", "email", "phone", "address_1", "city", "state", "zip"}


@pytest.fixture
def sold(world, db, secret_key, seed_lead):
    """Return a function posting the seed lead (sold to bargain) after giving every customer
    an HTTP destination at `path` of the buyer; answers (lead public id, {slug: secret})."""

    def post(buyer_url: str, path: str = "/ok", **settings) -> tuple[str, dict]:
        secrets = {}
        for customer in Customer.select().where(Customer.tenant == world.tenant.id):
            row = create_destination(
                customer.tenant,
                {"name": customer.slug, "kind": "http", "url": buyer_url + path, **settings},
                customer,
            )
            secrets[customer.slug] = row.revealed_secret
        db.close()
        answer = world.post(seed_lead)
        assert answer.json["status"] == "assigned"
        return answer.json["lead_public_id"], secrets

    return post


def test_a_sale_is_delivered_signed_with_its_deliverable_fields_only(sold, buyer, db):
    lead_id, secrets = sold(buyer.url)
    assert Worker().drain() == 1
    [request] = buyer.received
    body = json.loads(request.body)
    assert body["id"] == lead_id and body["price"] == 8.5
    assert set(body["fields"]) <= DELIVERABLE and "phone" in body["fields"]
    Webhook(secrets["bargain"]).verify(request.body, request.headers)
    delivery = Delivery.get()
    assert request.headers["webhook-id"] == delivery.public_id
    assert request.headers["Sluice-Event"] == "lead.sold"
    assert delivery.status == DELIVERED and delivery.attempts == 1
    attempt = DeliveryAttempt.get()
    assert attempt.status_code == 200 and attempt.outcome == "delivered"
    assert '"accepted"' in attempt.answer
    [event] = LeadEvent.select().where(LeadEvent.kind == "delivered")
    assert event.details["url"] == f"/api/admin/deliveries/{delivery.public_id}"


def test_an_unsold_lead_sends_nothing_to_buyers(make_world, db, secret_key, seed_lead, buyer):
    world = make_world(customers={"sunco": "0", "brightside": "0", "bargain": "0"})
    for customer in Customer.select():
        create_destination(
            customer.tenant, {"name": "x", "kind": "http", "url": buyer.url + "/ok"}, customer
        )
    db.close()
    answer = world.post(seed_lead)
    assert answer.json["status"] != "assigned"
    assert Worker().drain() == 0
    assert buyer.received == [] and Delivery.select().count() == 0


def test_a_retry_keeps_the_webhook_id_and_a_4xx_dead_letters(sold, buyer, db):
    sold(buyer.url, "/error")
    worker = Worker()
    assert worker.drain() == 1
    delivery = Delivery.get()
    assert delivery.status == PENDING and delivery.last_status_code == 500
    Delivery.update(next_attempt_at=delivery.created_at).execute()
    assert worker.drain() == 1
    first, second = buyer.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.public_id
    # A changed destination is read again (its updated_at changes, as every change does).
    DeliveryDestination.update(url=buyer.url + "/gone", updated_at=utcnow()).execute()
    Delivery.update(next_attempt_at=delivery.created_at).execute()
    assert worker.drain() == 1
    delivery = Delivery.get()
    assert delivery.status == DEAD and delivery.attempts == 3
    assert [a.number for a in DeliveryAttempt.select().order_by(DeliveryAttempt.id)] == [1, 2, 3]
    [failed] = LeadEvent.select().where(LeadEvent.kind == "delivery_failed")
    assert "HTTP 410" in failed.message


def test_a_destination_failing_again_and_again_is_paused_and_tells_webhooks(sold, buyer, db, world):
    DeliveryDestination.create(
        public_id="whk_test",
        tenant=world.tenant.id,
        customer=None,
        events=["destination.paused", "lead.sold"],
        name="ops",
        kind="http",
        url=buyer.url + "/ok",
    )
    sold(buyer.url, "/error")
    settings = WorkerSettings(pause=PausePolicy(failures=2, after=timedelta(0)))
    worker = Worker(settings)
    worker.drain()  # the buyer fails once; the tenant's webhook gets lead.sold
    Delivery.update(next_attempt_at=Delivery.created_at).where(Delivery.status == PENDING).execute()
    worker.drain()  # the second failure pauses it; destination.paused goes out
    paused = DeliveryDestination.get(DeliveryDestination.name == "bargain")
    assert not paused.active and "2 failed attempts" in paused.paused_reason
    events = [r.headers["Sluice-Event"] for r in buyer.received if r.path == "/ok"]
    assert events == ["lead.sold", "destination.paused"]
    Delivery.update(next_attempt_at=Delivery.created_at).where(Delivery.status == PENDING).execute()
    assert worker.drain() == 0  # a paused destination's deliveries wait


def test_a_webhook_hears_a_lead_put_on_the_marketplace_with_every_field(
    make_world, db, secret_key, buyer
):
    from tests.conftest import SEED_LEAD

    world = make_world(customers={"sunco": "0", "brightside": "0", "bargain": "0"})
    DeliveryDestination.create(
        public_id="whk_ops",
        tenant=world.tenant.id,
        events=["lead.marketplace"],
        name="ops",
        kind="http",
        url=buyer.url + "/ok",
    )
    db.close()
    answer = world.post({**SEED_LEAD, "homeowner": "no"})
    assert answer.json["status"] == "marketplace"  # the example rules' last stage
    assert Worker().drain() == 1
    [request] = buyer.received
    body = json.loads(request.body)
    assert request.headers["Sluice-Event"] == body["type"] == "lead.marketplace"
    lead = body["data"]["lead"]
    assert lead["id"] == answer.json["lead_public_id"] and lead["customer"] is None
    assert lead["fields"]["homeowner"] is False  # not deliverable, but the tenant's own


def test_a_reprocessed_lead_that_sells_is_delivered(
    make_world, home_rules, home_lead, db, secret_key, buyer
):
    from app.services.actor import operator_actor
    from app.services.customers import deposit
    from app.services.leads import reprocess_lead

    rules = home_rules(plan="stage bidding highest_price")  # unsold: unassigned
    world = make_world(rules, {"alpha": "0", "beta": "0", "gamma": "0"})
    for customer in Customer.select():
        create_destination(
            customer.tenant, {"name": "x", "kind": "http", "url": buyer.url + "/ok"}, customer
        )
    db.close()
    answer = world.post(home_lead(1))
    assert answer.json["status"] == "unassigned" and Delivery.select().count() == 0
    operator = operator_actor(world.tenant.code)
    for slug in ("alpha", "beta", "gamma"):
        deposit(operator, slug, 10_000)
    lead = reprocess_lead(operator, answer.json["lead_public_id"], test_price_cents=4500)
    assert lead.status == "assigned"
    assert Worker().drain() == 1
    assert json.loads(buyer.received[0].body)["id"] == lead.public_id


def test_sqlite_runs_one_worker_at_a_time(app, db):
    from app.store.db import is_postgresql
    from app.store.deliveries import Waker, WorkerRunning

    if is_postgresql():
        pytest.skip("PostgreSQL runs any number of workers")
    first = Waker(1)
    try:
        with pytest.raises(WorkerRunning, match="already runs"):
            Waker(2)
    finally:
        first.close()
    Waker(3).close()  # free again once the first stopped


def test_the_bodies_webhooks_receive_are_those_the_openapi_document_describes(
    sold, buyer, db, world, client
):
    from tests.api.test_webhooks import _validator

    DeliveryDestination.create(
        public_id="whk_all",
        tenant=world.tenant.id,
        events=["lead.sold", "delivery.failed", "destination.paused"],
        name="ops",
        kind="http",
        url=buyer.url + "/ok",
    )
    sold(buyer.url, "/gone")  # fails at once: dead, and with this policy paused
    worker = Worker(WorkerSettings(pause=PausePolicy(failures=1, after=timedelta(0))))
    worker.drain()
    worker.drain()
    spec = client.get("/api/openapi.json").json
    bodies = {
        r.headers["Sluice-Event"]: json.loads(r.body) for r in buyer.received if r.path == "/ok"
    }
    assert set(bodies) == {"lead.sold", "delivery.failed", "destination.paused"}
    for event, body in bodies.items():
        media = spec["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]
        _validator(media["schema"], spec["components"]["schemas"]).validate(body)


def test_a_delivery_written_as_its_destination_was_removed_is_canceled(sold, buyer, db):
    """A sale that read the destination before its removal committed writes a delivery
    after the removal canceled the others: the worker cancels it, never leaves it pending."""
    sold(buyer.url)
    DeliveryDestination.update(removed_at=utcnow(), active=False).execute()
    assert Delivery.get().status == PENDING  # as the race leaves it
    assert Worker().drain() == 0
    assert Delivery.get().status == "canceled" and buyer.received == []
