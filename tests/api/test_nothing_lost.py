"""A failure after the post is recorded keeps the lead (distribution_error), charges nothing."""

import pytest

from app.store.db import database
from app.store.models import BidCounter, Customer, Lead, LeadEvent, Post, WalletEntry

COUNTERS = BidCounter._meta.table_name


@pytest.fixture
def broken_counters(db):
    """Make the bid counter table unreachable, as a failing database would, then repair it."""
    database.execute_sql(f'ALTER TABLE "{COUNTERS}" RENAME TO "{COUNTERS}_away"')
    yield
    database.execute_sql(f'ALTER TABLE "{COUNTERS}_away" RENAME TO "{COUNTERS}"')


def test_failed_distribution_keeps_the_lead_and_answers_500(home, home_lead, broken_counters):
    response = home.post(home_lead(kind="Solar"))
    assert response.status_code == 500
    body = response.json
    assert body["error"] == "internal_error"
    assert body["request_id"] == response.headers["X-Request-Id"]
    lead = Lead.get(Lead.public_id == body["lead_public_id"])
    assert lead.status == "distribution_error"
    assert lead.customer is None and lead.price_cents == 0
    post = Post.get()
    assert (post.accepted, post.status_code) == (True, 500)
    assert lead.post == post
    # The routing transaction rolled back whole: no charge, no dedupe record kept.
    assert WalletEntry.select().count() == 3  # the opening deposits only
    assert {c.balance_cents for c in Customer.select()} == {10000}
    event = LeadEvent.get((LeadEvent.lead == lead) & (LeadEvent.kind == "distribution_error"))
    assert event.details["request_id"] == body["request_id"]


def test_errored_lead_is_reprocessed_once_repaired(home, home_lead, client, db):
    database.execute_sql(f'ALTER TABLE "{COUNTERS}" RENAME TO "{COUNTERS}_away"')
    try:
        body = home.post(home_lead(kind="Solar")).json
    finally:
        database.execute_sql(f'ALTER TABLE "{COUNTERS}_away" RENAME TO "{COUNTERS}"')
    url = f"/api/admin/leads/{body['lead_public_id']}/reprocess"
    response = client.post(url, headers=home.admin)
    assert response.status_code == 200
    assert response.json["status"] == "assigned"
    assert response.json["customer"] == "alpha"
    assert response.json["price"] == 25.0
    assert [e["kind"] for e in response.json["timeline"]][-2:] == ["classified", "assigned"]
    # Routed leads cannot be reprocessed into a second sale.
    assert client.post(url, headers=home.admin).status_code == 409
    assert WalletEntry.select().where(WalletEntry.kind == "charge").count() == 1
