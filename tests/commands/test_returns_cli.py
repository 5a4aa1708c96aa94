"""`sluice lead return`, `sluice customer update` (return policy), `sluice tenant
return-reasons`."""

from __future__ import annotations

import re

from app.store.models import Customer, Lead, WalletEntry


def test_lead_return_credits_the_buyer_and_shows_the_lead(world, sluice, seed_lead):
    ref = world.post(seed_lead).json["lead_public_id"]
    lead = Lead.get(Lead.public_id == ref)
    code = world.tenant.code
    before = Customer.get_by_id(lead.customer_id).balance_cents
    status, out = sluice("lead", "return", code, ref, "--reason", "Nope")
    assert status == 1 and "'Nope' is not a return reason: one of 'Invalid phone'" in out
    status, out = sluice(
        "lead", "return", code, ref, "--reason", "invalid email", "--note", "bounced"
    )
    assert status == 0, out
    assert re.search(r"^status +returned$", out, re.M) and "returned: Returned by cli" in out
    assert "(Invalid email: bounced)" in out
    assert Customer.get_by_id(lead.customer_id).balance_cents == before + lead.price_cents
    status, out = sluice("lead", "return", code, ref, "--reason", "Other")
    assert status == 1 and "returned already" in out
    refused = sluice.json("lead", "list", code, "--status", "returned")
    assert [row["id"] for row in refused] == [ref]
    assert WalletEntry.select().where(WalletEntry.kind == "credit").count() == 1


def test_the_policy_refuses_unless_overridden(world, sluice, seed_lead):
    ref = world.post(seed_lead).json["lead_public_id"]
    slug = Lead.get(Lead.public_id == ref).customer.slug
    code = world.tenant.code
    shown = sluice.json("customer", "update", code, slug, "--return-window-days", "0")
    assert (shown["return_window_days"], shown["return_limit_percent"]) == (0, 15)
    status, out = sluice("lead", "return", code, ref, "--reason", "Other", "--json")
    assert status == 1 and "return window is 0 days" in out and '"window"' in out
    done = sluice.json("lead", "return", code, ref, "--reason", "Other", "--override")
    assert done["status"] == "returned" and done["timeline"][-1]["details"]["override"] is True


def test_customer_update_sets_the_return_policy(world, sluice):
    code = world.tenant.code
    shown = sluice.json("customer", "update", code, "sunco", "--no-return-limit")
    assert (shown["return_window_days"], shown["return_limit_percent"]) == (7, None)
    shown = sluice.json(
        "customer", "update", code, "sunco", "--return-limit-percent", "10", "--name", "Sun Co"
    )
    assert (shown["name"], shown["return_limit_percent"]) == ("Sun Co", 10)
    status, out = sluice("customer", "update", code, "sunco", "--return-window-days", "999")
    assert status == 1 and "return policy is invalid" in out
    status, out = sluice("customer", "update", code, "sunco")
    assert status == 1 and "nothing to change" in out
    status, out = sluice("customer", "show", code, "sunco")
    assert re.search(r"^return_window_days +7$", out, re.M)
    assert re.search(r"^return_limit_percent +10$", out, re.M)


def test_tenant_return_reasons_shows_sets_and_resets(world, sluice):
    code = world.tenant.code
    status, out = sluice("tenant", "return-reasons", code)
    assert status == 0 and out.splitlines()[0] == "Invalid phone"
    shown = sluice.json("tenant", "return-reasons", code, "--set", "Bad", "--set", "Fake")
    assert shown == {"reasons": ["Bad", "Fake"]}
    status, out = sluice("tenant", "return-reasons", code, "--set", "Bad", "--set", "bad")
    assert status == 1 and "the return reasons are invalid" in out
    assert sluice("tenant", "return-reasons", code)[1] == "Bad\nFake\n"
    shown = sluice.json("tenant", "return-reasons", code, "--reset")
    assert shown["reasons"][-1] == "Other"
