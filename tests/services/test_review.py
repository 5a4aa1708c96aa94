"""Audit review: an approved lead is routed on (sold, charged, delivered); a rejected one
stays `audit` for good; many at once, checked all first."""

from __future__ import annotations

import pytest

from app.domain.errors import ConflictError, InvalidError, NotFoundError
from app.services import leads, review
from app.services.actor import operator_actor, user_actor
from app.services.leads import LeadFilter
from app.store.models import Customer, Delivery, Lead, LeadEvent, WalletEntry
from app.store.tenants import create_user
from tests.delivery_rows import destination_row
from tests.security.endpoints import database_snapshot

DISPOSABLE = "katy.berry@mailinator.com"  # the example rules' "Disposable email" audit


@pytest.fixture
def operator(world, db):
    return operator_actor(world.tenant.code)


@pytest.fixture
def held(world, seed_lead):
    """Return the public id of a new lead held for audit."""

    def post(**changes) -> str:
        body = world.post({**seed_lead, "email": DISPOSABLE, **changes}).json
        assert body["status"] == "audit", body
        return body["lead_public_id"]

    return post


def sold_lead(world, seed_lead) -> str:
    body = world.post(seed_lead).json
    assert body["status"] == "assigned", body
    return body["lead_public_id"]


def test_an_approved_lead_is_sold_charged_and_delivered(world, db, operator, held):
    for customer in Customer.select():
        destination_row(world.tenant, customer, name=f"CRM of {customer.slug}")
    destination_row(world.tenant)  # a webhook of lead.sold
    ref = held()
    assert Delivery.select().count() == 0  # a held lead is announced to no one
    done = review.approve_lead(operator, ref, note="Real person, checked")
    assert done.status == "assigned" and done.customer_id is not None
    charge = WalletEntry.get(WalletEntry.lead == done.id)
    assert (charge.kind, charge.amount_cents) == ("charge", -done.price_cents)
    assert charge.customer_id == done.customer_id
    sent = {(d.event, d.destination.customer_id) for d in Delivery.select()}
    assert sent == {("lead.sold", done.customer_id), ("lead.sold", None)}
    kinds = [event.kind for event in done.timeline]
    assert kinds[kinds.index("audit") + 1] == "audit_approved"
    assert kinds[-1] == "assigned" and kinds.count("audit") == 1  # no audit the second time
    approval = done.timeline[kinds.index("audit_approved")]
    assert approval.details == {"by": operator.name, "note": "Real person, checked"}
    explained = leads.explain_lead(operator, ref)
    assert explained["review"]["decision"] == "approved"
    assert explained["review"]["by"] == operator.name
    assert "audits skipped" in explained["note"]
    assert approval.message == f"Approved by {operator.name}: Real person, checked"
    assert (done.review.decision, done.review.by) == ("approved", operator.name)


def test_a_rejected_lead_stays_audit_and_can_never_be_approved(world, operator, held):
    ref = held()
    done = review.reject_lead(operator, ref, note="  Fake identity  ")
    assert done.status == "audit"
    assert (done.review.decision, done.review.note) == ("rejected", "Fake identity")
    with pytest.raises(ConflictError, match="was rejected"):
        review.approve_lead(operator, ref)
    with pytest.raises(ConflictError, match="was rejected"):
        review.reject_lead(operator, ref, note="again")
    with pytest.raises(ConflictError, match="cannot be reprocessed"):
        leads.reprocess_lead(operator, ref, test_price_cents=4500)
    lead = Lead.get(Lead.public_id == ref)
    assert (lead.status, lead.customer_id, lead.price_cents) == ("audit", None, 0)
    assert WalletEntry.select().where(WalletEntry.lead == lead.id).count() == 0
    assert [e.kind for e in LeadEvent.select().where(LeadEvent.lead == lead.id)].count(
        "audit_rejected"
    ) == 1


def test_only_a_lead_held_for_audit_can_be_reviewed(world, operator, seed_lead, held):
    ref = sold_lead(world, seed_lead)
    with pytest.raises(ConflictError, match="is assigned: only a lead held for audit"):
        review.approve_lead(operator, ref)
    with pytest.raises(ConflictError, match="is assigned"):
        review.reject_lead(operator, ref, note="no")
    approved = held(phone="555-123-9999")
    review.approve_lead(operator, approved)
    with pytest.raises(ConflictError, match="is assigned"):  # approved once: sold once
        review.approve_lead(operator, approved)
    with pytest.raises(NotFoundError):
        review.approve_lead(operator, "lead_nobody")


def test_a_test_lead_has_no_audit_to_review(make_world, seed_lead, db):
    world = make_world(test_mode=True)
    body = world.post({**seed_lead, "zip": "00005"}).json  # test mode: 00005 answers audit
    assert body["status"] == "audit"
    operator = operator_actor(world.tenant.code)
    with pytest.raises(ConflictError, match="test lead"):
        review.approve_lead(operator, body["lead_public_id"])


def test_a_rejection_needs_a_note_and_a_note_has_a_limit(operator, held):
    ref = held()
    with pytest.raises(InvalidError) as caught:
        review.reject_lead(operator, ref, note="   ")
    assert list(caught.value.details) == ["note"]
    with pytest.raises(InvalidError) as caught:
        review.approve_lead(operator, ref, note="x" * 501)
    assert list(caught.value.details) == ["note"]
    assert Lead.get(Lead.public_id == ref).status == "audit"


def test_the_timeline_names_the_user_who_reviewed(world, held):
    user, _ = create_user(world.tenant, "rita@acme.example", "admin")
    ref = held()
    done = review.reject_lead(user_actor(user), ref, note="Same person twice")
    last = done.timeline[-1]
    assert (last.kind, last.details["by"]) == ("audit_rejected", "rita@acme.example")
    assert last.message == "Rejected by rita@acme.example: Same person twice"
    listed = leads.list_leads(user_actor(user), LeadFilter(status="audit"))
    assert [(lead.public_id, lead.review.decision) for lead in listed] == [(ref, "rejected")]


def test_a_bulk_review_with_one_bad_lead_changes_nothing(world, operator, seed_lead, held):
    first, second = held(), held(phone="555-123-9999")
    sold = sold_lead(world, {**seed_lead, "phone": "555-123-8888"})
    rejected = held(phone="555-123-7777")
    review.reject_lead(operator, rejected, note="Fake")
    before = database_snapshot()
    with pytest.raises(ConflictError) as caught:
        review.review_leads(
            operator,
            "approved",
            [first, sold, second, rejected, "lead_nobody"],
        )
    assert caught.value.message.startswith("3 of 5 leads cannot be approved, none was: ")
    assert sorted(caught.value.details) == sorted([sold, rejected, "lead_nobody"])
    assert "is assigned" in caught.value.details[sold][0]
    assert "was rejected" in caught.value.details[rejected][0]
    assert database_snapshot() == before


def test_a_bulk_review_answers_each_leads_new_status(world, operator, held):
    first, second = held(), held(phone="555-123-9999", zip="33140")
    done = review.review_leads(operator, "approved", [first, second, first])
    assert [(r.id, r.status, r.error) for r in done] == [
        (first, "assigned", None),
        (second, "assigned", None),
    ]
    third, fourth = held(phone="555-123-1111"), held(phone="555-123-2222")
    done = review.review_leads(operator, "rejected", [third, fourth], note="Bot traffic")
    assert [(r.id, r.status) for r in done] == [(third, "audit"), (fourth, "audit")]
    shown = leads.show_lead(operator, fourth)
    assert (shown.review.decision, shown.review.note) == ("rejected", "Bot traffic")
    with pytest.raises(InvalidError, match="name the leads"):
        review.review_leads(operator, "approved", [" "])
    with pytest.raises(InvalidError, match="needs a note"):
        review.review_leads(operator, "rejected", [third])
