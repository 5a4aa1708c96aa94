"""POST /api/leads with a plan whose `stage alter` changes the lead before bidding."""

from app.analysis.explain import explain_stored_lead
from app.commands.analysis import render_lead_explanation
from app.store.models import Customer, Delivery, Lead, LeadEvent
from tests.delivery_rows import destination_row

RULES = """
category home "Home" {
    field first_name text required(post) deliverable
    field phone phone required(post) deliverable
    field state us_state required(post) deliverable
    field zip zip required(post) deliverable
    field kind one of ["Roof", "Other"] deliverable
}
lead_type texan "Texan" in home priority 10 when state == "TX"
lead_type any "Any" in home fallback
bid texas for customer gamma on any, texan price 20.00 when state == "TX"
plan home {
    stage alter {
        set state = "TX" when zip starts_with "75"
        set first_name = upper(first_name)
        set kind = "Other" when kind is missing
    }
    stage bidding highest_price
}
"""


def lead(n: int, **fields) -> dict:
    body = {"first_name": "Katy", "phone": f"555-201-{n:04d}", "state": "FL", "zip": "75001"}
    body.update(fields)
    return body


def test_altered_values_are_bid_on_stored_and_delivered(make_world):
    world = make_world(RULES, {"gamma": "100"})
    destination_row(world.tenant, Customer.get(Customer.slug == "gamma"))
    response = world.post(lead(1))
    assert response.status_code == 201, response.json
    # Florida as posted, Texas once altered: the bid's `when` reads the altered state.
    assert (response.json["status"], response.json["price"]) == ("assigned", 20)
    stored = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert stored.lead_type == "any"  # classified before the plan, on the data posted
    assert stored.data == {
        "first_name": "KATY",
        "phone": "+15552010001",
        "state": "TX",
        "zip": "75001",
        "kind": "Other",
    }
    (delivery,) = Delivery.select().where(Delivery.lead == stored.id)
    fields = delivery.payload["fields"]  # the buyer's delivery: what the buyer receives
    assert (fields["state"], fields["first_name"], fields["kind"]) == ("TX", "KATY", "Other")
    altered = LeadEvent.get(LeadEvent.lead == stored.id, LeadEvent.kind == "altered")
    assert altered.message == "Altered state, first_name, kind."
    assert [(line["field"], line["from"], line["to"]) for line in altered.details["lines"]] == [
        ("state", "FL", "TX"),
        ("first_name", "Katy", "KATY"),
        ("kind", None, "Other"),
    ]
    kinds = [e.kind for e in LeadEvent.select().where(LeadEvent.lead == stored.id)]
    assert kinds.index("classified") < kinds.index("altered") < kinds.index("assigned")


def test_a_lead_no_line_changes_is_stored_as_posted(make_world):
    world = make_world(RULES, {"gamma": "100"})
    response = world.post(lead(2, first_name="KATY", zip="33139", kind="Roof"))
    assert response.json["status"] == "unassigned"
    stored = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert (stored.data["state"], stored.data["kind"]) == ("FL", "Roof")
    altered = LeadEvent.get(LeadEvent.lead == stored.id, LeadEvent.kind == "altered")
    assert altered.message == "Stage alter changed nothing."
    results = [(line["field"], line["result"]) for line in altered.details["lines"]]
    assert results == [
        ("state", "condition_false"),
        ("first_name", "unchanged"),
        ("kind", "condition_false"),
    ]


def test_explain_lead_explains_on_the_data_routing_read(make_world):
    world = make_world(RULES, {"gamma": "100"})
    body = world.post(lead(3)).json
    stored = Lead.get(Lead.public_id == body["lead_public_id"])
    explanation = explain_stored_lead(stored)
    # Stored as TX, posted as FL: the lead types are tried on FL, as routing tried them.
    chosen = [t["id"] for t in explanation["lead_types"] if t["chosen"]]
    assert chosen == ["any"]
    (lines,) = explanation["alter"]
    assert [line["result"] for line in lines] == ["applied", "applied", "applied"]
    (stage,) = explanation["bidding"]
    assert stage["winner"] == "texas"
    text = render_lead_explanation(explanation)
    assert "alter stage 1 (as recorded):" in text
    assert '✓ line 14: set state: "FL" -> "TX"' in text
