"""`sluice lead edit` and `sluice lead reclassify`."""

from __future__ import annotations

from app.store.models import Lead, LeadEvent

DISPOSABLE = "katy.berry@mailinator.com"  # the example rules' "Disposable email" audit


def held(world, seed_lead) -> str:
    body = world.post({**seed_lead, "email": DISPOSABLE}).json
    assert body["status"] == "audit", body
    return body["lead_public_id"]


def test_lead_edit_prints_each_change_and_the_reclassification(sluice, world, seed_lead):
    ref = held(world, seed_lead)
    code = world.tenant.code
    status, output = sluice("lead", "edit", code, ref, "homeowner=yes", "city=Miami", "address_1=")
    assert status == 0, output
    assert output.splitlines() == [
        f"edited {ref}:",
        '  address_1: "742 Orchard Lane" -> null',
        '  city: "Paradise Bay" -> "Miami"',
        "  homeowner: null -> true",
        "reclassified: other -> standard",
    ]
    lead = Lead.get(Lead.public_id == ref)
    assert (lead.lead_type, lead.data["city"], lead.status) == ("standard", "Miami", "audit")
    assert "address_1" not in lead.data
    status, output = sluice("lead", "edit", code, ref, "city=Miami")
    assert (status, output.strip()) == (0, "no change: the lead holds these values already")
    data = sluice.json("lead", "edit", code, ref, "monthly_bill=$1,200", "state=california")
    assert data["changes"] == {
        "monthly_bill": {"old": None, "new": 1200},
        "state": {"old": "FL", "new": "CA"},
    }
    assert data["reclassification"]["new_lead_type"] == "premium"


def test_lead_edit_names_each_field_at_fault(sluice, world, seed_lead):
    ref = held(world, seed_lead)
    code = world.tenant.code
    status, output = sluice("lead", "edit", code, ref, "email=nope", "status=assigned", "zip=")
    assert status == 1
    assert output.splitlines() == [
        "error: email: Must be a valid email address.",
        "error: status: This is the lead's metadata: it cannot be edited.",
        "error: zip: This field is required.",
    ]
    status, output = sluice("lead", "edit", code, ref, "email=nope", "--json")
    assert status == 1 and '"email": [' in output
    status, output = sluice("lead", "edit", code, ref, "no-equals-sign")
    assert status == 2 and "is not FIELD=VALUE" in output
    status, output = sluice("lead", "edit", code, "lead_nobody", "city=Miami")
    assert status == 1 and "no lead 'lead_nobody'" in output
    events = LeadEvent.select().where(LeadEvent.kind == "edited")
    assert events.count() == 0


def test_lead_edit_refuses_a_sold_lead(sluice, world, seed_lead):
    ref = world.post(seed_lead).json["lead_public_id"]
    status, output = sluice("lead", "edit", world.tenant.code, ref, "city=Miami")
    assert status == 1 and f"lead {ref} is assigned" in output


def test_lead_reclassify_shows_then_applies(sluice, world, seed_lead):
    ref = held(world, seed_lead)
    code = world.tenant.code
    lead = Lead.get(Lead.public_id == ref)
    Lead.update(lead_type="premium").where(Lead.id == lead.id).execute()  # as older rules said
    status, output = sluice("lead", "reclassify", code, ref)
    assert (status, output.strip()) == (0, "would be reclassified: premium -> other")
    assert Lead.get(Lead.id == lead.id).lead_type == "premium"
    status, output = sluice("lead", "reclassify", code, ref, "--apply")
    assert (status, output.strip()) == (0, "reclassified: premium -> other")
    assert Lead.get(Lead.id == lead.id).lead_type == "other"
    status, output = sluice("lead", "reclassify", code, ref, "--apply")
    assert (status, output.strip()) == (0, "no change: the lead type is other")
    data = sluice.json("lead", "reclassify", code, ref)
    assert data == {
        "category": "solar",
        "old_lead_type": "other",
        "new_lead_type": "other",
        "changed": False,
        "applied": False,
    }
