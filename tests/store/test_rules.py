"""Storing rule set versions: refusals beyond the language's own checks."""

import pytest

from app.store.customers import create_customer
from app.store.rules import RulesRefused, active_ruleset, push_rules
from app.store.tenants import create_tenant

RULES = """
category home "Home" {
    field zip zip required(post)
}
lead_type any "Any" in home fallback
bid cheap for customer acme on any price %s
plan home {
    stage bidding highest_price
}
"""


def test_fractions_of_a_cent_are_refused(db):
    tenant, _, _ = create_tenant("Acme")
    create_customer(tenant, "acme", "Acme")
    with pytest.raises(RulesRefused) as refused:
        push_rules(tenant, {"h.rules": RULES % "0.125"}, by="tests")
    assert [d["code"] for d in refused.value.details] == ["fractional-cents"]
    version, _ = push_rules(tenant, {"h.rules": RULES % "0.13"}, by="tests")
    assert version.number == 1


def test_active_ruleset_is_the_last_pushed(db):
    tenant, _, _ = create_tenant("Acme")
    create_customer(tenant, "acme", "Acme")
    assert active_ruleset(tenant) == (None, None)
    push_rules(tenant, {"h.rules": RULES % "1"}, by="tests")
    version, ruleset = active_ruleset(tenant)
    assert version.number == 1
    assert str(ruleset.bids["cheap"].price) == "1"
