"""Editing an unsold lead: validated as an intake, the old values kept on the timeline, the
lead reclassified; reclassifying on its own, dry or applied."""

from __future__ import annotations

import pytest

from app.analysis import leadsql
from app.domain.editing import EDITABLE
from app.domain.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from app.dsl import parse_condition, read_rule_files
from app.services import deletion, review
from app.services.actor import operator_actor, user_actor
from app.services.editing import edit_lead, reclassify_lead
from app.services.routing import reroute_lead
from app.store.listing import LeadFilter
from app.store.models import Lead, LeadEvent
from app.store.rules import active_ruleset, push_rules
from app.store.sources import create_source
from app.store.tenants import create_user
from tests.conftest import EXAMPLES
from tests.security.endpoints import database_snapshot

BROKE = {"sunco": "0", "brightside": "0", "bargain": "0"}  # no bid can pay: the marketplace
DISPOSABLE = "katy.berry@mailinator.com"  # the example rules' "Disposable email" audit


@pytest.fixture
def broke(make_world):
    """A tenant on the example rules whose customers cannot pay: leads go to the marketplace."""
    return make_world(customers=BROKE)


@pytest.fixture
def operator(broke, db):
    return operator_actor(broke.tenant.code)


def post(world, lead, status="marketplace") -> str:
    body = world.post(lead).json
    assert body["status"] == status, body
    return body["lead_public_id"]


def events(ref: str, kind: str) -> list[LeadEvent]:
    lead = Lead.get(Lead.public_id == ref)
    return list(LeadEvent.select().where(LeadEvent.lead == lead.id, LeadEvent.kind == kind))


def test_an_edit_stores_normalized_values_and_keeps_the_old_ones(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    done = edit_lead(
        operator,
        ref,
        {"phone": "(555) 123-9999", "city": "Paradise Bay", "first_name": " Kathy ", "dob": ""},
    )
    assert done.lead.data["phone"] == "+15551239999"
    assert done.lead.data["first_name"] == "Kathy"
    # city held that value already, dob was absent: neither changed
    assert {name: (c.old, c.new) for name, c in done.changes.items()} == {
        "first_name": ("Katy", "Kathy"),
        "phone": ("+15551234567", "+15551239999"),
    }
    (edited,) = events(ref, "edited")
    assert edited.details == {
        "by": operator.name,
        "changes": {
            "first_name": {"old": "Katy", "new": "Kathy"},
            "phone": {"old": "+15551234567", "new": "+15551239999"},
        },
    }
    assert edited.message == f"Edited by {operator.name}: first_name, phone."
    assert done.lead.timeline[-1].kind == "edited"
    assert done.lead.status == "marketplace"  # an edit does not route the lead
    stored = Lead.get(Lead.public_id == ref)
    assert stored.data == done.lead.data and stored.updated_at > stored.received_at


def test_an_edit_reclassifies_the_lead(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    assert Lead.get(Lead.public_id == ref).lead_type == "other"
    done = edit_lead(operator, ref, {"homeowner": "yes", "monthly_bill": "$180"})
    assert {n: (c.old, c.new) for n, c in done.changes.items()} == {
        "homeowner": (None, True),
        "monthly_bill": (None, 180),
    }
    found = done.reclassification
    assert (found.category, found.old_lead_type, found.new_lead_type) == (
        "solar",
        "other",
        "premium",
    )
    assert found.changed and found.applied
    assert done.lead.lead_type == "premium"
    (entry,) = events(ref, "reclassified")
    assert entry.details == {
        "by": operator.name,
        "old": "other",
        "new": "premium",
        "after": "edited",
    }
    assert [e.kind for e in done.lead.timeline][-2:] == ["edited", "reclassified"]
    again = edit_lead(operator, ref, {"monthly_bill": "100"})  # premium needs 150
    assert (again.reclassification.old_lead_type, again.reclassification.new_lead_type) == (
        "premium",
        "standard",
    )
    same = edit_lead(operator, ref, {"city": "Miami"})
    assert not same.reclassification.changed and not same.reclassification.applied
    assert len(events(ref, "reclassified")) == 2


def test_an_edit_that_changes_nothing_writes_nothing(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    before = database_snapshot()
    done = edit_lead(
        operator, ref, {"phone": "+1 555 123 4567", "email": "KATY.berry@thirstyleads.com"}
    )
    assert done.changes == {}
    assert (done.reclassification.changed, done.reclassification.applied) == (False, False)
    assert database_snapshot() == before


def test_a_blank_value_removes_a_field_unless_it_is_required(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    done = edit_lead(operator, ref, {"email": None, "address_1": "  "})
    assert "email" not in done.lead.data and "address_1" not in done.lead.data
    assert done.changes["email"].old == "katy.berry@thirstyleads.com"
    assert done.changes["email"].new is None
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {"phone": "", "zip": None})
    assert caught.value.details == {
        "phone": ["This field is required."],
        "zip": ["This field is required."],
    }


# The intake's own messages (tests/api/test_intake_validation.py), field by field.
INVALID = [
    ("email", "not-an-email", "Must be a valid email address."),
    ("phone", "12", "Must be a valid phone number."),
    ("state", "ZZ", "Must be a two-letter US state code."),
    ("zip", "3313", "Must be a US ZIP code (12345 or 12345-6789)."),
    ("roof_type", "straw", "Must be one of: shingle, tile, metal, flat."),
    ("monthly_bill", "lots", "Must be a number."),
    ("credit_score", 700.5, "Must be a whole number."),
    ("dob", "31/31/2000", "Must be a valid calendar date."),
    ("homeowner", "maybe", "Must be true or false."),
    ("first_name", {"nested": "object"}, "Must be text."),
    ("city", "x" * 2001, "Must be at most 2000 characters."),
    ("city", "Paradise\x00Bay", "Holds a NUL character (\\u0000), which cannot be stored."),
    ("credit_score", float("nan"), "Holds a non-finite number (nan), which cannot be stored."),
    ("status", "assigned", "This is the lead's metadata: it cannot be edited."),
    ("source", "src_other", "This is the lead's metadata: it cannot be edited."),
    ("received_at", "2020-01-01", "This is the lead's metadata: it cannot be edited."),
    ("price", 1, "This is the lead's metadata: it cannot be edited."),
    ("customer", "sunco", "This is the lead's metadata: it cannot be edited."),
    ("category", "roofing", "This is the lead's metadata: it cannot be edited."),
    ("lead_type", "premium", "This is the lead's metadata: it cannot be edited."),
    ("is_test", True, "This is the lead's metadata: it cannot be edited."),
    ("@source", "x", "This is the lead's metadata: it cannot be edited."),
    ("favourite_colour", "blue", "Not a field of category 'solar'."),
    ("ping_id", "p1", "Not a field of category 'solar'."),
]


@pytest.mark.parametrize(("field", "value", "message"), INVALID, ids=lambda v: str(v)[:20])
def test_each_invalid_field_is_refused_by_name(broke, operator, seed_lead, field, value, message):
    ref = post(broke, seed_lead)
    before = database_snapshot()
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {"address_1": "1 Main St", field: value})
    assert caught.value.details == {field: [message]}
    assert database_snapshot() == before


def test_every_error_is_reported_at_once(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {"email": "x", "phone": "", "status": "assigned", "nope": 1})
    assert sorted(caught.value.details) == ["email", "nope", "phone", "status"]
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {})
    assert list(caught.value.details) == ["_request"]


def test_a_sold_or_deleted_lead_cannot_be_edited(world, db, seed_lead):
    operator = operator_actor(world.tenant.code)
    ref = post(world, seed_lead, "assigned")
    before = database_snapshot()
    with pytest.raises(ConflictError, match=f"lead {ref} is assigned: a sold lead"):
        edit_lead(operator, ref, {"city": "Miami"})
    with pytest.raises(ConflictError, match="is assigned"):
        reclassify_lead(operator, ref, apply=True)
    assert database_snapshot() == before
    other = post(world, {**seed_lead, "email": DISPOSABLE, "phone": "555-123-0000"}, "audit")
    deletion.delete_lead(operator, other)
    with pytest.raises(ConflictError, match="was deleted"):
        edit_lead(operator, other, {"city": "Miami"})
    with pytest.raises(ConflictError, match="was deleted"):
        reclassify_lead(operator, other, apply=False)
    with pytest.raises(NotFoundError):
        edit_lead(operator, "lead_nobody", {"city": "Miami"})
    with pytest.raises(NotFoundError):
        reclassify_lead(operator, "lead_nobody", apply=False)


def test_every_status_but_the_sold_ones_is_editable():
    assert set(EDITABLE) == {
        "pending",
        "duplicate",
        "unassigned",
        "withheld",
        "marketplace",
        "audit",
        "uncategorized",
        "distribution_error",
    }


def test_a_lead_held_for_audit_stays_held_once_edited(world, db, seed_lead):
    operator = operator_actor(world.tenant.code)
    ref = post(world, {**seed_lead, "email": DISPOSABLE}, "audit")
    done = edit_lead(operator, ref, {"email": "katy@example.com"})
    assert done.lead.status == "audit"  # editing does not release it: approving does
    rejected = post(world, {**seed_lead, "email": DISPOSABLE, "phone": "555-123-0001"}, "audit")
    review.reject_lead(operator, rejected, note="Fake")
    done = edit_lead(operator, rejected, {"city": "Miami"})
    assert (done.lead.status, done.lead.review.decision) == ("audit", "rejected")


def test_a_test_lead_can_be_edited(make_world, db, seed_lead):
    world = make_world(test_mode=True)
    operator = operator_actor(world.tenant.code)
    ref = post(world, {**seed_lead, "zip": "00002"}, "unassigned")  # a test zip's outcome
    done = edit_lead(operator, ref, {"city": "Miami", "homeowner": "yes"})
    assert done.lead.is_test and done.lead.data["city"] == "Miami"
    assert done.reclassification.new_lead_type == "standard"
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {"is_test": "false"})
    assert list(caught.value.details) == ["is_test"]


def test_editing_needs_the_permission(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    viewer, _ = create_user(broke.tenant, "vera@acme.example", "viewer")
    analyst, _ = create_user(broke.tenant, "ann@acme.example", "analyst")
    with pytest.raises(ForbiddenError):
        edit_lead(user_actor(viewer), ref, {"city": "Miami"})
    with pytest.raises(ForbiddenError):
        reclassify_lead(user_actor(viewer), ref, apply=False)
    with pytest.raises(ForbiddenError):
        reclassify_lead(user_actor(analyst), ref, apply=True)
    assert reclassify_lead(user_actor(analyst), ref, apply=False).new_lead_type == "other"
    admin, _ = create_user(broke.tenant, "rita@acme.example", "admin")
    done = edit_lead(user_actor(admin), ref, {"city": "Miami"})
    assert done.lead.timeline[-1].details["by"] == "rita@acme.example"


def premium_in_florida() -> dict[str, str]:
    """Return the example rules with premium needing nothing but Florida."""
    files = read_rule_files(str(EXAMPLES / "solar"))
    (name,) = files
    old = 'when homeowner and monthly_bill >= 150 and state in ["CA", "NV", "AZ", "FL"]'
    assert old in files[name]
    return {name: files[name].replace(old, 'when state == "FL"')}


def test_reclassify_shows_first_then_applies(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    unchanged = reclassify_lead(operator, ref, apply=True)
    assert (unchanged.old_lead_type, unchanged.new_lead_type) == ("other", "other")
    assert not unchanged.changed and not unchanged.applied
    push_rules(broke.tenant, premium_in_florida(), by="tests")  # a lead type's condition holds
    before = database_snapshot()
    dry = reclassify_lead(operator, ref, apply=False)
    assert (dry.category, dry.old_lead_type, dry.new_lead_type) == ("solar", "other", "premium")
    assert dry.changed and not dry.applied
    assert database_snapshot() == before  # the dry classification wrote nothing
    done = reclassify_lead(operator, ref, apply=True)
    assert (done.old_lead_type, done.new_lead_type, done.applied) == ("other", "premium", True)
    lead = Lead.get(Lead.public_id == ref)
    assert (lead.lead_type, lead.status) == ("premium", "marketplace")
    (entry,) = events(ref, "reclassified")
    assert entry.details == {"by": operator.name, "old": "other", "new": "premium"}
    assert entry.message == f"Reclassified by {operator.name}: other -> premium."
    before = database_snapshot()
    again = reclassify_lead(operator, ref, apply=True)
    assert (again.changed, again.applied) == (False, False)
    assert database_snapshot() == before


def test_a_sold_lead_can_be_classified_dry(world, db, seed_lead):
    operator = operator_actor(world.tenant.code)
    ref = post(world, seed_lead, "assigned")
    dry = reclassify_lead(operator, ref, apply=False)
    assert (dry.old_lead_type, dry.new_lead_type, dry.applied) == ("other", "other", False)


def test_deleting_an_edited_lead_erases_the_old_values(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    edit_lead(operator, ref, {"phone": "555-123-9999"})
    deletion.delete_lead(operator, ref)
    (edited,) = events(ref, "edited")
    assert edited.details is None
    assert edited.message == f"Edited by {operator.name}: phone."


def test_a_field_the_rules_no_longer_declare_is_kept_or_removed(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    lead = Lead.get(Lead.public_id == ref)
    Lead.update(data={**lead.data, "legacy": "kept"}).where(Lead.id == lead.id).execute()
    done = edit_lead(operator, ref, {"city": "Miami"})
    assert done.lead.data["legacy"] == "kept" and list(done.changes) == ["city"]
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {"legacy": "changed"})
    assert caught.value.details == {"legacy": ["Not a field of category 'solar'."]}
    done = edit_lead(operator, ref, {"legacy": None})
    assert "legacy" not in done.lead.data and done.changes["legacy"].old == "kept"


def test_a_routing_that_read_the_lead_before_an_edit_is_refused(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    read = Lead.get(Lead.public_id == ref)  # a reprocess or an approval read it, then...
    edit_lead(operator, ref, {"city": "Miami"})
    version, ruleset = active_ruleset(broke.tenant)
    before = database_snapshot()
    with pytest.raises(ConflictError, match=f"lead {ref} was edited meanwhile"):
        reroute_lead(read, version, ruleset, statuses=("marketplace",))
    with pytest.raises(ConflictError, match=f"lead {ref} is marketplace: it cannot be routed"):
        reroute_lead(read, version, ruleset, statuses=("pending",))  # its status says first
    assert database_snapshot() == before
    fresh = Lead.get(Lead.public_id == ref)
    assert reroute_lead(fresh, version, ruleset, statuses=("marketplace",)).status == "marketplace"


def test_counts_through_the_projection_see_an_edit(broke, operator, seed_lead):
    fields = {"city": "text", "monthly_bill": "number"}
    dialect = leadsql.dialect()
    conditions = [
        ("solar", leadsql.where_sql(parse_condition(text, fields), fields, dialect))
        for text in ('city == "Miami"', "monthly_bill >= 150")
    ]
    window = leadsql.Window(broke.tenant.id, LeadFilter())
    ref = post(broke, seed_lead)
    assert window.count(conditions, projection=True) == (1, [0, 0])  # PostgreSQL: projected
    edit_lead(operator, ref, {"city": "Miami", "monthly_bill": "200"})
    assert window.count(conditions, projection=True) == (1, [1, 1])


def test_a_lead_is_validated_as_its_sources_intake_validates_it(make_world, db):
    rules = 'category x "X" { field first_name text\n field zip zip }\n'
    world = make_world(rules + 'lead_type a "A" in x fallback\nplan x { }\n', customers={})
    operator = operator_actor(world.tenant.code)
    lead = {"first_name": "Katy", "zip": "33139"}
    native, routio = post(world, lead, "unassigned"), post(world, lead, "unassigned")
    source, _ = create_source(world.tenant, "Partner", None, api_style="routio")
    Lead.update(source=source.id).where(Lead.public_id == routio).execute()
    with pytest.raises(InvalidError) as caught:  # a native source's leads always have a zip
        edit_lead(operator, native, {"zip": None})
    assert caught.value.details == {"zip": ["This field is required."]}
    assert "first_name" not in edit_lead(operator, native, {"first_name": ""}).lead.data
    with pytest.raises(InvalidError) as caught:  # Routio requires a name, not a zip
        edit_lead(operator, routio, {"first_name": ""})
    assert caught.value.details == {"first_name": ["This field is required."]}
    assert "zip" not in edit_lead(operator, routio, {"zip": None}).lead.data


def test_a_declared_field_named_like_metadata_is_data(make_world, db):
    rules = (
        'category x "X" { field source text\n field status one of ["new", "old"] }\n'
        'lead_type a "A" in x fallback\nplan x { }\n'
    )
    world = make_world(rules, customers={})
    ref = post(world, {"zip": "33139", "source": "flyer", "status": "new"}, "unassigned")
    done = edit_lead(operator_actor(world.tenant.code), ref, {"source": "radio", "status": "OLD"})
    assert done.lead.data == {"source": "radio", "status": "old", "zip": "33139"}
    assert done.lead.status == "unassigned" and done.lead.source.name == "Web form"


def test_an_edit_names_at_most_200_fields(broke, operator, seed_lead):
    ref = post(broke, seed_lead)
    with pytest.raises(InvalidError) as caught:
        edit_lead(operator, ref, {f"f{n}": "x" for n in range(201)})
    assert caught.value.details == {"_request": ["At most 200 fields an edit."]}
