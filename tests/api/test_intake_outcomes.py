"""Every outcome of POST /api/leads, through the whole pipeline."""

from decimal import Decimal

from app.store.models import BidCounter, Customer, Lead, LeadEvent, Post, WalletEntry


def balance(slug: str) -> Decimal:
    cents = Customer.select(Customer.balance_cents).where(Customer.slug == slug).scalar()
    return Decimal(cents) / 100


def test_seed_example_request_is_assigned(world, seed_lead):
    response = world.post(seed_lead)
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"lead_uuid", "lead_public_id", "status", "price"}
    assert body["status"] == "assigned"
    assert body["price"] == 8.5  # the example rules: no homeowner -> "other" -> bargain_any
    assert len(body["lead_public_id"]) == 31
    assert body["lead_public_id"].startswith("lead_")
    assert (
        body["lead_public_id"][5:].isalnum()
        and body["lead_public_id"] == body["lead_public_id"].lower()
    )
    lead = Lead.get(Lead.public_id == body["lead_public_id"])
    assert str(lead.uuid) == body["lead_uuid"]
    assert lead.data["phone"] == "+15551234567"
    assert lead.rule_version.number == 1
    assert balance("bargain") == Decimal("991.50")


def test_assigned_lead_charges_the_wallet_with_the_assignment(home, home_lead):
    response = home.post(home_lead())
    assert response.json["status"] == "assigned"
    assert response.json["price"] == 40.0
    lead = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert lead.customer.slug == "alpha"
    assert lead.bid_id == "alpha_roof"
    assert lead.price_cents == 4000
    entry = WalletEntry.get(WalletEntry.lead == lead)
    assert (entry.kind, entry.amount_cents, entry.balance_after_cents) == ("charge", -4000, 6000)
    assert balance("alpha") == Decimal("60.00")


def test_highest_price_tie_goes_to_the_bid_that_won_least_recently(home, home_lead):
    winners = [home.post(home_lead(n)).json for n in range(1, 5)]
    customers = [Lead.get(Lead.public_id == w["lead_public_id"]).customer.slug for w in winners]
    assert customers == ["alpha", "beta", "alpha", "beta"]


def test_round_robin_rotates_among_eligible_bids(make_world, home_lead, home_rules):
    rules = home_rules(plan="stage bidding round_robin")
    world = make_world(rules, {"alpha": "1000", "beta": "1000", "gamma": "1000"})
    slugs = []
    for n in range(1, 7):
        body = world.post(home_lead(n, state="TX")).json
        slugs.append(Lead.get(Lead.public_id == body["lead_public_id"]).customer.slug)
    # Three eligible bids in TX (gamma's only there): each wins in turn, cheaper one included.
    assert slugs == ["alpha", "beta", "gamma", "alpha", "beta", "gamma"]


def test_bidding_stage_restricted_to_named_bids(make_world, home_lead, home_rules):
    rules = home_rules(plan="stage bidding highest_price [beta_roof]")
    world = make_world(rules, {"alpha": "100", "beta": "100", "gamma": "100"})
    body = world.post(home_lead()).json
    assert Lead.get(Lead.public_id == body["lead_public_id"]).bid_id == "beta_roof"


def test_uncategorized_when_no_lead_type_matches(home, home_lead):
    response = home.post(home_lead(kind="Other"))
    assert response.status_code == 201
    assert response.json["status"] == "uncategorized"
    assert response.json["price"] == 0


def test_audit_holds_the_lead_without_distributing(home, home_lead):
    response = home.post(home_lead(first_name="  TEST "))
    assert response.json["status"] == "audit"
    lead = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert lead.customer is None
    events = [e.kind for e in LeadEvent.select().where(LeadEvent.lead == lead)]
    assert events == ["received", "classified", "audit"]
    assert balance("alpha") == Decimal("100.00")


def test_duplicate_is_never_charged(home, home_lead):
    first = home.post(home_lead(1, phone="(555) 201-0001")).json
    second = home.post(home_lead(1, phone="+1 555 201 0001")).json
    assert first["status"] == "assigned"
    assert second["status"] == "duplicate"
    assert second["price"] == 0
    assert WalletEntry.select().where(WalletEntry.kind == "charge").count() == 1
    lead = Lead.get(Lead.public_id == second["lead_public_id"])
    event = LeadEvent.get((LeadEvent.lead == lead) & (LeadEvent.kind == "duplicate"))
    assert event.details == {"check": "Same phone", "original": first["lead_public_id"]}


def test_unsold_lead_goes_to_marketplace_when_the_plan_has_one(home, home_lead):
    response = home.post(home_lead(kind="Solar", state="TX"))
    # solar_capped wins first (25.00 > 10.00; solar_closed is outside its schedule).
    assert response.json["status"] == "assigned"
    assert home.post(home_lead(2, kind="Solar")).json["status"] == "assigned"
    # The cap (2 per day) is reached: solar_budget (10.00, budget 20 per month) takes two.
    third = home.post(home_lead(3, kind="Solar")).json
    assert (third["status"], third["price"]) == ("assigned", 10.0)
    assert home.post(home_lead(4, kind="Solar")).json["price"] == 10.0
    # Cap and budget exhausted, the other bid closed: marketplace.
    fifth = home.post(home_lead(5, kind="Solar")).json
    assert (fifth["status"], fifth["price"]) == ("marketplace", 0)
    counters = {(c.bid_id, c.period): (c.leads, c.spent_cents) for c in BidCounter.select()}
    assert counters == {("solar_capped", "day"): (2, 5000), ("solar_budget", "month"): (2, 2000)}
    lead = Lead.get(Lead.public_id == fifth["lead_public_id"])
    event = LeadEvent.get((LeadEvent.lead == lead) & (LeadEvent.kind == "bidding"))
    assert event.details["excluded"] == {
        "solar_closed": "outside its schedule",
        "solar_capped": "cap reached (2 per day)",
        "solar_budget": "budget exhausted (20 per month)",
    }


def test_unassigned_without_marketplace_stage(make_world, home_lead, home_rules):
    customers = {"alpha": "0", "beta": "0", "gamma": "0"}
    world = make_world(home_rules(plan="stage bidding highest_price"), customers)
    response = world.post(home_lead())
    assert response.json["status"] == "unassigned"
    assert response.json["price"] == 0


def test_wallet_must_cover_the_price(make_world, home_lead, home_rules):
    world = make_world(home_rules(), {"alpha": "39.99", "beta": "40.00", "gamma": "0"})
    body = world.post(home_lead()).json
    assert Lead.get(Lead.public_id == body["lead_public_id"]).customer.slug == "beta"
    assert balance("beta") == 0
    assert world.post(home_lead(2)).json["status"] == "marketplace"
    assert balance("alpha") == Decimal("39.99")


def test_inactive_customer_wins_nothing(home, client, home_lead):
    client.post("/api/admin/customers/alpha/deactivate", headers=home.admin)
    winners = {home.post(home_lead(n)).json["lead_public_id"] for n in range(1, 3)}
    slugs = {Lead.get(Lead.public_id == w).customer.slug for w in winners}
    assert slugs == {"beta"}


def test_every_accepted_lead_has_its_post(home, home_lead):
    home.post(home_lead())
    home.post(home_lead(kind="Other"))
    for lead in Lead.select():
        assert lead.post is not None
        assert lead.post.accepted and lead.post.status_code == 201
    assert Post.select().count() == 2
