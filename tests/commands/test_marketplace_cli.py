"""`sluice marketplace list`, `sluice lead claim`, `sluice customer update --claims-per-day`."""

from __future__ import annotations

import pytest

from app.store.models import Customer
from tests.services.test_marketplace import home_rules, place


@pytest.fixture
def market(make_world):
    return make_world(home_rules(), {"alpha": "100"}, name="Market")


def test_list_claim_and_limit_from_the_cli(sluice, market):
    code = market.tenant.code
    refs = [place(market, n) for n in range(2)]
    offers = sluice.json("marketplace", "list", code)
    assert [offer["id"] for offer in offers] == refs[::-1]  # newest first
    assert offers[0]["price"] == 25.0 and offers[0]["teaser"] == {"state": "FL", "zip": "33139"}
    status, output = sluice("marketplace", "list", code)
    assert status == 0 and "25.00" in output and "state=FL, zip=33139" in output
    assert sluice.json("marketplace", "list", code, "--category", "other") == []
    updated = sluice.json("customer", "update", code, "alpha", "--claims-per-day", "1")
    assert updated["claims_per_day"] == 1
    claimed = sluice.json("lead", "claim", code, refs[0], "alpha")
    assert (claimed["status"], claimed["customer"]) == ("assigned", "alpha")
    status, output = sluice("lead", "claim", code, refs[1], "alpha")
    assert status != 0 and "limit of 1 claims a day" in output
    status, output = sluice("lead", "claim", code, refs[0], "alpha")
    assert status != 0 and "no longer on the marketplace" in output
    status, output = sluice("customer", "update", code, "alpha", "--claims-per-day", "lots")
    assert status == 2 and "'none' for no limit" in output
    cleared = sluice.json("customer", "update", code, "alpha", "--claims-per-day", "none")
    assert cleared["claims_per_day"] is None
    assert Customer.get(Customer.slug == "alpha").balance_cents == 7500
