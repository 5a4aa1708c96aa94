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


def test_warm_up_compiles_the_active_rule_sets_and_never_raises(db):
    from app.store import rules
    from app.store.models import RuleSetVersion

    pushed = []
    for name, price in (("Acme", "1"), ("Brio", "2"), ("Cora", "3")):
        tenant, _, _ = create_tenant(name)
        create_customer(tenant, "acme", "Acme")
        pushed.append(push_rules(tenant, {"h.rules": RULES % price}, by="tests")[0])
    rules._cache.clear()
    assert rules.warm_up() == 3
    assert {v.content_hash for v in pushed} <= set(rules._cache)
    rules._cache.clear()
    broken = pushed[-1]  # the newest activation: compiled first
    RuleSetVersion.update(files={"h.rules": "category {"}).where(
        RuleSetVersion.id == broken.id
    ).execute()
    assert rules.warm_up() == 2  # the version that no longer compiles passed over
    assert broken.content_hash not in rules._cache
