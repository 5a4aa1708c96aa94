"""Deleting leads: the personal data goes, the distribution history stays; twice changes
nothing; many at once, all or nothing."""

from __future__ import annotations

import pytest

from app.domain.errors import ConflictError, InvalidError, NotFoundError
from app.services import deletion, leads, review
from app.services.actor import operator_actor, user_actor
from app.store.models import (
    DedupeKey,
    Delivery,
    DeliveryAttempt,
    Lead,
    LeadEvent,
    Post,
    WalletEntry,
)
from app.store.tenants import create_user
from tests.delivery_rows import destination_row
from tests.security.endpoints import database_snapshot

DISPOSABLE = "katy.berry@mailinator.com"  # the example rules' "Disposable email" audit


@pytest.fixture
def operator(world, db):
    return operator_actor(world.tenant.code)


def post(world, seed_lead, status="assigned", **changes) -> str:
    body = world.post({**seed_lead, **changes}, headers={"X-Partner-Id": "p-77"}).json
    assert body["status"] == status, body
    return body["lead_public_id"]


def test_a_deleted_lead_loses_its_data_and_keeps_its_history(world, operator, seed_lead):
    for customer in world.tenant.customers:
        destination_row(world.tenant, customer, name=f"CRM of {customer.slug}")
    destination_row(world.tenant)  # a webhook of lead.sold
    ref = post(world, seed_lead)
    lead = Lead.get(Lead.public_id == ref)
    delivered = Delivery.select().where(Delivery.lead == lead.id).first()
    Delivery.update(status="delivered").where(Delivery.id == delivered.id).execute()
    DeliveryAttempt.create(
        delivery=delivered, number=1, started_at=lead.received_at, duration_ms=3.0,
        outcome="delivered", status_code=200, answer="ok",
    )  # fmt: skip
    charge = WalletEntry.get(WalletEntry.lead == lead.id)
    assert DedupeKey.select().where(DedupeKey.lead == lead.id).count() > 0
    assert lead.partner_id == "p-77"

    shown = deletion.delete_lead(operator, ref)

    assert shown.deleted_at is not None and shown.data == {}
    assert (shown.status, shown.customer_id, shown.price_cents) == (
        "assigned",
        lead.customer_id,
        lead.price_cents,
    )
    assert shown.partner_id is None
    stored_post = Post.get(Post.id == lead.post_id)
    assert (stored_post.payload, stored_post.headers) == ({}, {})
    rows = list(Delivery.select().where(Delivery.lead == lead.id))
    assert len(rows) == 2 and all(row.payload == {} for row in rows)
    statuses = {row.id: row.status for row in rows}
    assert statuses.pop(delivered.id) == "delivered"  # what went out stays as it went
    assert set(statuses.values()) == {"canceled"}  # what had not gone out never will
    assert DeliveryAttempt.select().where(DeliveryAttempt.delivery == delivered.id).count() == 1
    assert WalletEntry.get(WalletEntry.lead == lead.id).id == charge.id  # the charge stays
    assert DedupeKey.select().where(DedupeKey.lead == lead.id).count() == 0
    kinds = [event.kind for event in shown.timeline]
    assert kinds[0] == "received" and kinds[-1] == "deleted"
    assert shown.timeline[-1].details == {"by": operator.name}
    assert shown.timeline[-1].message.startswith(f"Deleted by {operator.name}")
    assert DISPOSABLE not in str(Lead.get(Lead.id == lead.id).data)


def test_a_deleted_lead_can_be_sent_again_as_new(world, operator, seed_lead):
    ref = post(world, seed_lead)
    deletion.delete_leads(operator, [ref])
    again = world.post(seed_lead).json  # its dedupe keys forgot it: not a duplicate
    assert again["status"] == "assigned", again


def test_deleting_twice_changes_nothing(world, operator, seed_lead):
    ref = post(world, seed_lead)
    (first,) = deletion.delete_leads(operator, [ref])
    assert first.already is False
    before = database_snapshot()
    (second,) = deletion.delete_leads(operator, [ref])
    assert second.already is True and second.deleted_at == first.deleted_at
    assert database_snapshot() == before
    lead = Lead.get(Lead.public_id == ref)
    assert (
        LeadEvent.select().where(LeadEvent.lead == lead.id, LeadEvent.kind == "deleted").count()
        == 1
    )
    assert deletion.delete_lead(operator, str(lead.uuid)).deleted_at == first.deleted_at


def test_a_bulk_deletion_with_an_unknown_id_deletes_none(world, operator, seed_lead):
    refs = [
        post(world, seed_lead, phone=f"555-123-000{n}", email=f"katy{n}@thirstyleads.com")
        for n in range(3)
    ]
    before = database_snapshot()
    with pytest.raises(NotFoundError) as caught:
        deletion.delete_leads(operator, [*refs, "lead_nobody", "nonsense"])
    assert "'lead_nobody'" in caught.value.message and "'nonsense'" in caught.value.message
    assert set(caught.value.details) == {"lead_nobody", "nonsense"}
    assert database_snapshot() == before
    done = deletion.delete_leads(operator, [refs[0], *refs, refs[1]])
    assert [d.id for d in done] == refs and not any(d.already for d in done)
    assert Lead.select().where(Lead.deleted_at.is_null(False)).count() == 3


def test_a_deletion_names_its_leads(operator):
    with pytest.raises(InvalidError) as caught:
        deletion.delete_leads(operator, ["  "])
    assert list(caught.value.details) == ["ids"]
    with pytest.raises(InvalidError):
        deletion.delete_leads(operator, [f"lead_{n}" for n in range(deletion.MAX_LEADS + 1)])


def test_a_deleted_lead_can_be_neither_reprocessed_nor_reviewed(
    make_world, home_rules, home_lead, world, operator, seed_lead
):
    home = make_world(
        home_rules(plan="stage bidding highest_price"),
        {"alpha": "0", "beta": "0", "gamma": "0"},
        name="H",
    )
    unsold = home.post(home_lead(1)).json
    assert unsold["status"] == "unassigned", unsold
    home_operator = operator_actor(home.tenant.code)
    deletion.delete_leads(home_operator, [unsold["lead_public_id"]])
    with pytest.raises(ConflictError, match="was deleted"):
        leads.reprocess_lead(home_operator, unsold["lead_public_id"], test_price_cents=4500)
    assert Lead.get(Lead.public_id == unsold["lead_public_id"]).status == "unassigned"
    held = post(world, seed_lead, status="audit", email=DISPOSABLE)
    deletion.delete_leads(operator, [held])
    with pytest.raises(ConflictError, match="was deleted"):
        review.approve_lead(operator, held)
    with pytest.raises(ConflictError, match="was deleted"):
        review.review_leads(operator, "rejected", [held], note="fake")


def test_a_deleted_lead_is_listed_as_deleted(world, operator, seed_lead):
    ref = post(world, seed_lead)
    deletion.delete_leads(operator, [ref])
    (listed,) = leads.list_leads(operator, leads.LeadFilter(test=None))
    assert listed.public_id == ref and listed.deleted_at is not None


def test_the_timeline_names_the_user_who_deleted(world, seed_lead):
    user, _ = create_user(world.tenant, "rita@acme.example", "admin")
    ref = post(world, seed_lead)
    shown = deletion.delete_lead(user_actor(user), ref)
    assert shown.timeline[-1].details == {"by": "rita@acme.example"}


def test_another_tenants_lead_is_not_found(make_world, seed_lead, db):
    mine, theirs = make_world(name="Mine"), make_world(name="Theirs")
    ref = post(theirs, seed_lead)
    with pytest.raises(NotFoundError):
        deletion.delete_lead(operator_actor(mine.tenant.code), ref)
    assert Lead.get(Lead.public_id == ref).deleted_at is None


def test_an_export_marks_a_deleted_lead_and_holds_none_of_its_data(world, operator, seed_lead):
    from app.services.exports import export_leads
    from app.services.leads import LeadFilter

    ref = post(world, seed_lead)
    deletion.delete_leads(operator, [ref])
    header, row = "".join(export_leads(operator, LeadFilter()).csv()).splitlines()
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert cells["id"] == ref and cells["deleted"] == "true" and cells["status"] == "assigned"
    assert cells["first_name"] == cells["phone"] == cells["email"] == ""
