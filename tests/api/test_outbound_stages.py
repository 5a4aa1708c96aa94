"""POST /api/leads through a plan's ping_post, post and enrich stages, against partners and
an enrichment provider served on loopback (tests/partner_servers.py)."""

from __future__ import annotations

import pytest

from app.services import partners
from app.services.actor import operator_actor
from app.store.models import Customer, Delivery, Lead, LeadEvent
from app.store.rules import RulesRefused, push_rules
from app.store.sources import create_source
from app.store.tenants import create_tenant
from tests.conftest import World
from tests.delivery_rows import destination_row

CATEGORY = """
category home "Home" {
    field first_name text required(post) deliverable
    field phone phone required(post) deliverable
    field address_1 text deliverable
    field city text deliverable
    field state us_state required(ping, post) deliverable
    field zip zip required(ping, post) deliverable
    field year_built integer
}
lead_type any "Any" in home fallback
bid own for customer gamma on any price 20.00 when state != "TX"
bid old_homes for customer gamma on any price 30.00 when year_built < 1990
"""
#: How the partners' answers are read: tests/partner_servers.py answers this way.
READ = {
    "accepted_path": "status == 'accepted' || status == 'sold' || status == 'found'",
    "price_path": "bid.price",
    "reference_path": "ping_id",
    "reason_path": "message",
    "redirect_path": "redirect",
}


def lead(n: int, **fields) -> dict:
    body = {
        "first_name": "Katy",
        "phone": f"555-301-{n:04d}",
        "address_1": "12 Ocean Drive",
        "city": "Miami Beach",
        "state": "FL",
        "zip": "33139",
    }
    body.update(fields)
    return body


@pytest.fixture
def outbound_world(db, client, secret_key, partner_api):
    """Return a factory: a tenant whose partners answer on `partner_api` by their paths
    ({name: (ping path, post path)}; a provider: {name: path}), with `plan`."""
    from app.store.customers import create_customer

    def make(
        plan: str,
        ping_post: dict | None = None,
        providers: dict | None = None,
        category: str = CATEGORY,
    ) -> World:
        tenant, _, token = create_tenant("Acme")
        create_customer(tenant, "gamma", "Gamma", 10_000)
        actor = operator_actor(tenant.code)
        for name, (ping, post) in (ping_post or {}).items():
            settings = {"name": name, "ping_url": partner_api.url + ping, **READ}
            if post is not None:
                settings["post_url"] = partner_api.url + post
            settings["field_map"] = {"zip": "zip", "state": "state", "first_name": "first_name"}
            settings["field_map"]["ping_id"] = "@reference"
            partners.add_partner(actor, settings)
        for name, path in (providers or {}).items():
            settings = {
                "name": name,
                "kind": "enrichment",
                "url": partner_api.url + path,
                "method": "GET",
                "data_path": "property",
                "accepted_path": "status == 'found'",
            }
            partners.add_partner(actor, settings)
        push_rules(tenant, {"home.rules": category + plan}, by="tests")
        source, secret = create_source(tenant, "Web form", "home", False)
        db.close()
        return World(tenant, token, source, secret, client)

    return make


def timeline(public_id: str) -> list[LeadEvent]:
    lead_row = Lead.get(Lead.public_id == public_id)
    return list(LeadEvent.select().where(LeadEvent.lead == lead_row.id).order_by(LeadEvent.id))


def calls_of(public_id: str) -> dict[str, dict]:
    """Return the lead's recorded calls by partner (the last call to each)."""
    return {
        e.details["partner"]: e.details for e in timeline(public_id) if e.kind == "partner_call"
    }


def gamma_balance() -> int:
    return Customer.get(Customer.slug == "gamma").balance_cents


def ping_post(*names: str, timeout: str = "2 s") -> str:
    """Return a plan pinging the partners; the timeout is ample for a loaded machine (the
    benchmark, bench/fanout.py, measures the 300 ms stages)."""
    stage = f"stage ping_post [{', '.join(names)}] timeout {timeout}"
    return f"plan home {{\n    {stage}\n    stage bidding highest_price\n}}\n"


def test_the_best_offer_is_posted_and_the_lead_is_posted(outbound_world, partner_api):
    world = outbound_world(
        ping_post("a", "b", "c"),
        {
            "a": ("/offer/25.00", "/post-accept"),
            "b": ("/offer/40.00", "/post-accept"),
            "c": ("/decline", "/post-accept"),
        },
    )
    webhook = destination_row(world.tenant)
    webhook.events = ["lead.posted"]
    webhook.save()
    answer = world.post(lead(1))
    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "posted" and answer.json["price"] == 40
    assert answer.json["redirect_url"] == "https://partner.example/thanks/1"
    stored = Lead.get(Lead.public_id == answer.json["lead_public_id"])
    assert (stored.status, stored.posted_partner, stored.price_cents) == ("posted", "b", 4000)
    assert stored.customer_id is None and stored.assigned_at is not None
    assert gamma_balance() == 10_000  # nobody's wallet: the partner pays the tenant
    pings = [c for c in partner_api.calls if c.path.startswith(("/offer", "/decline"))]
    assert len(pings) == 3
    for call in pings:  # a ping carries no identity
        body = call.json()
        assert "first_name" not in body and body["zip"] == "33139"
    (post,) = [c for c in partner_api.calls if c.path == "/post-accept"]
    assert post.json()["first_name"] == "Katy" and post.json()["ping_id"] == "pg_40.00"
    events = timeline(stored.public_id)
    kinds = [e.kind for e in events]
    assert kinds.count("partner_call") == 4 and kinds[-1] == "posted"
    compared = next(e for e in events if e.kind == "ping_post")
    rows = {row.get("partner") or row.get("bid"): row for row in compared.details["offers"]}
    assert rows["b"]["result"] == "chosen"
    assert rows["a"]["reason"] == "offered 25.00, below the best 40.00"
    assert rows["own"]["result"] == "lost"
    assert compared.details["declined"] == {"c": "no coverage in this zip"}
    assert 0 < compared.details["pinged_ms"] < 1000
    calls = [e.details for e in events if e.kind == "partner_call"]
    assert {(c["partner"], c["phase"], c["status"]) for c in calls} == {
        ("a", "ping", "accepted"),
        ("b", "ping", "accepted"),
        ("c", "ping", "rejected"),
        ("b", "post", "accepted"),
    }
    event = Delivery.get(Delivery.lead == stored.id, Delivery.event == "lead.posted")
    assert event.payload["data"]["lead"]["partner"] == "b"


def test_a_rejected_post_falls_back_to_the_next_offer(outbound_world, partner_api):
    world = outbound_world(
        ping_post("a", "b"),
        {"a": ("/offer/25.00", "/post-accept"), "b": ("/offer/40.00", "/post-reject")},
    )
    answer = world.post(lead(2))
    assert (answer.json["status"], answer.json["price"]) == ("posted", 25)
    stored = Lead.get(Lead.public_id == answer.json["lead_public_id"])
    assert stored.posted_partner == "a"
    posts = [c.path for c in partner_api.calls if c.path.startswith("/post")]
    assert posts == ["/post-reject", "/post-accept"]
    second = [e for e in timeline(stored.public_id) if e.kind == "ping_post"][-1]
    assert second.details["failed_posts"] == {"b": "duplicate lead"}


def test_sluices_own_bid_beats_lower_offers_and_wins_ties(outbound_world, partner_api):
    world = outbound_world(
        ping_post("a", "b"),
        {"a": ("/offer/20.00", "/post-accept"), "b": ("/offer/12.50", "/post-accept")},
    )
    answer = world.post(lead(3))
    assert (answer.json["status"], answer.json["price"]) == ("assigned", 20)
    assert not [c for c in partner_api.calls if c.path.startswith("/post")]
    assert gamma_balance() == 10_000 - 2000
    events = timeline(answer.json["lead_public_id"])
    compared = next(e for e in events if e.kind == "ping_post")
    rows = {row.get("partner") or row.get("bid"): row for row in compared.details["offers"]}
    assert rows["own"]["result"] == "chosen"
    assert rows["a"]["reason"] == "a tie: Sluice's own bid is preferred"


def test_slow_malformed_and_failing_partners_lose_and_the_plan_goes_on(outbound_world, partner_api):
    world = outbound_world(
        ping_post("slow", "bad", "down", timeout="1 s"),
        {
            "slow": ("/slow/4000/90.00", "/post-accept"),
            "bad": ("/malformed", "/post-accept"),
            "down": ("/error", "/post-accept"),
        },
    )
    answer = world.post(lead(4))
    assert (answer.json["status"], answer.json["price"]) == ("assigned", 20)  # own bid
    calls = calls_of(answer.json["lead_public_id"])
    assert calls["slow"]["status"] == "timeout"
    assert calls["slow"]["duration_ms"] < 2500  # cut at the stage's 1 s, not 4 s
    assert calls["bad"]["status"] == "rejected" and calls["bad"]["rejection"]["malformed"]
    assert calls["down"]["status_code"] == 500 and calls["down"]["status"] == "rejected"


def test_no_offer_and_no_bid_goes_on_to_the_next_stage(outbound_world):
    plan = "plan home {\n    stage ping_post [a] timeout 2 s\n    stage marketplace\n}\n"
    world = outbound_world(plan, {"a": ("/decline", "/post-accept")})
    answer = world.post(lead(5, state="TX"))  # no own bid takes a Texan lead
    assert answer.json["status"] == "marketplace"
    events = timeline(answer.json["lead_public_id"])
    compared = next(e for e in events if e.kind == "ping_post")
    assert compared.message == "No partner offered and no bid could take the lead."
    assert compared.details["declined"] == {"a": "no coverage in this zip"}


def test_a_direct_post_stage_posts_in_turn_until_one_accepts(outbound_world, partner_api):
    plan = "plan home {\n    stage post [first, second, third]\n    stage marketplace\n}\n"
    world = outbound_world(
        plan,
        {
            "first": ("/unused", "/post-reject"),
            "second": ("/unused", "/post-accept"),
            "third": ("/unused", "/post-accept"),
        },
    )
    answer = world.post(lead(6))
    assert answer.json["status"] == "posted" and answer.json["price"] == 0
    stored = Lead.get(Lead.public_id == answer.json["lead_public_id"])
    assert stored.posted_partner == "second"
    assert [c.path for c in partner_api.calls] == ["/post-reject", "/post-accept"]


def test_a_direct_post_nobody_takes_goes_on(outbound_world):
    plan = "plan home {\n    stage post [first]\n    stage marketplace\n}\n"
    world = outbound_world(plan, {"first": ("/unused", "/post-reject")})
    answer = world.post(lead(7))
    assert answer.json["status"] == "marketplace"
    kinds = [e.kind for e in timeline(answer.json["lead_public_id"])]
    assert "not_posted" in kinds and kinds.index("not_posted") < kinds.index("marketplace")


ENRICH = "plan home {{\n    stage enrich realestate {mode}\n    stage bidding highest_price\n}}\n"


def test_enrichment_fills_a_declared_field_later_stages_read(outbound_world, partner_api):
    world = outbound_world(ENRICH.format(mode="fill_empty"), providers={"realestate": "/property"})
    answer = world.post(lead(8))
    # year_built 1987 came from the provider: the old_homes bid (< 1990) wins
    assert (answer.json["status"], answer.json["price"]) == ("assigned", 30)
    stored = Lead.get(Lead.public_id == answer.json["lead_public_id"])
    assert stored.data["year_built"] == 1987
    assert stored.enriched["realestate"]["owner"] == {"name": "Pat Owner"}
    (call,) = partner_api.calls
    assert "zip=33139" in call.path and call.method == "GET"
    enriched = next(e for e in timeline(stored.public_id) if e.kind == "enriched")
    assert enriched.details["filled"] == {"year_built": 1987}
    assert enriched.details["before"] == {"year_built": None}
    from app.analysis.explain import explain_stored_lead

    explained = explain_stored_lead(stored)  # on the data as classified, then as enriched
    assert explained["lead_types"][0]["matched"]
    bids = {decision["bid"]: decision for decision in explained["bidding"][0]["decisions"]}
    assert bids["old_homes"]["result"] == "won"
    from app.store.rules import active_ruleset

    _, ruleset = active_ruleset(world.tenant)
    as_posted = {**lead(8), "@received_at": "2026-12-07T10:00:00Z"}
    for enriched, eligible in ((None, False), ({"realestate": {"year_built": 1987}}, True)):
        explained = ruleset.explain(as_posted, "home", enriched)
        bid = next(bid for bid in explained["bids"] if bid["id"] == "old_homes")
        assert bid["eligible"] is eligible  # read as the enrich stage left the lead


def test_fill_empty_keeps_a_value_and_overwrite_replaces_it(outbound_world):
    world = outbound_world(ENRICH.format(mode="fill_empty"), providers={"realestate": "/property"})
    kept = world.post(lead(9, year_built=2005))
    assert kept.json["price"] == 20
    assert Lead.get(Lead.public_id == kept.json["lead_public_id"]).data["year_built"] == 2005
    world = outbound_world(ENRICH.format(mode="overwrite"), providers={"realestate": "/property"})
    replaced = world.post(lead(10, year_built=2005))
    assert replaced.json["price"] == 30


def test_a_lead_without_the_address_is_not_enriched_and_says_why(outbound_world, partner_api):
    world = outbound_world(ENRICH.format(mode="fill_empty"), providers={"realestate": "/property"})
    body = lead(11)
    del body["address_1"]
    answer = world.post(body)
    assert (answer.json["status"], answer.json["price"]) == ("assigned", 20)
    assert partner_api.calls == []
    enriched = next(e for e in timeline(answer.json["lead_public_id"]) if e.kind == "enriched")
    assert enriched.message == "Enrichment by realestate skipped: the lead lacks address_1."


def test_rules_naming_an_unknown_partner_or_provider_are_refused(db, secret_key):
    tenant, _, _ = create_tenant("Acme")
    from app.store.customers import create_customer

    create_customer(tenant, "gamma", "Gamma", 0)
    plan = "plan home {\n    stage ping_post [nobody]\n    stage enrich ghost\n}\n"
    with pytest.raises(RulesRefused) as refused:
        push_rules(tenant, {"home.rules": CATEGORY + plan}, by="tests")
    codes = {problem["code"]: problem["message"] for problem in refused.value.details}
    assert "'nobody'" in codes["unknown-partner"] and "'ghost'" in codes["unknown-provider"]
    actor = operator_actor(tenant.code)
    settings = {"name": "postonly", "ping_url": "https://p.example/ping", **READ}
    partners.add_partner(actor, {**settings, "post_url": "https://p.example/post"})
    partners.update_partner(actor, "postonly", {"ping_url": None})
    plan = "plan home {\n    stage post [postonly]\n    stage ping_post [postonly]\n}\n"
    with pytest.raises(RulesRefused) as refused:
        push_rules(tenant, {"home.rules": CATEGORY + plan}, by="tests")
    (problem,) = refused.value.details
    assert problem["code"] == "partner-cannot-take-stage"
    assert "'postonly' of plan home's ping_post stage has no ping URL" in problem["message"]


def test_a_removed_partner_is_recorded_not_called(outbound_world, partner_api):
    world = outbound_world(
        ping_post("a", "b"),
        {"a": ("/offer/25.00", "/post-accept"), "b": ("/offer/40.00", "/post-accept")},
    )
    partners.remove_partner(operator_actor(world.tenant.code), "b")
    answer = world.post(lead(12))
    assert (answer.json["status"], answer.json["price"]) == ("posted", 25)
    calls = calls_of(answer.json["lead_public_id"])
    assert calls["b"]["status"] == "error" and "removed" in calls["b"]["error"]


def test_explain_lead_says_why_each_partner_lost(outbound_world):
    from app.analysis.explain import explain_stored_lead
    from app.commands.analysis import render_lead_explanation

    world = outbound_world(
        ping_post("a", "b", "c"),
        {
            "a": ("/offer/25.00", "/post-accept"),
            "b": ("/offer/40.00", "/post-reject"),
            "c": ("/decline", "/post-accept"),
        },
    )
    answer = world.post(lead(13))
    assert (answer.json["status"], answer.json["price"]) == ("posted", 25)
    explanation = explain_stored_lead(Lead.get(Lead.public_id == answer.json["lead_public_id"]))
    kinds = [step["kind"] for step in explanation["outbound"]]
    assert kinds.count("ping_post") == 2 and kinds[-1] == "posted"
    text = render_lead_explanation(explanation)
    assert "stages that called out:" in text
    assert "    a 25.00: lost: offered 25.00, below the best 40.00" in text
    assert "    c: no offer: no coverage in this zip" in text
    assert "    b: its post failed: duplicate lead" in text
    assert "  Posted to a, accepted at 25.00." in text


def test_explain_and_the_dry_run_never_call_a_partner(outbound_world, partner_api):
    from app.analysis.dryrun import DryRunRequest, run_dry_run
    from app.commands.analysis import render_dry_run
    from app.commands.rules_check import render_explanation
    from app.dsl import compile_rules
    from app.store.rules import active_ruleset

    world = outbound_world(
        ping_post("a", "b"),
        {"a": ("/offer/25.00", "/post-accept"), "b": ("/offer/40.00", "/post-accept")},
        providers={"realestate": "/property"},
    )
    for n in range(3):
        assert world.post(lead(20 + n)).json["status"] == "posted"
    called = len(partner_api.calls)
    version, baseline = active_ruleset(world.tenant)
    plan = (
        "plan home {\n    stage enrich realestate overwrite\n"
        "    stage ping_post [a, b] timeout 1 s\n    stage bidding highest_price\n}\n"
    )
    proposed = compile_rules({"home.rules": CATEGORY + plan})
    explained = proposed.explain({**lead(30), "@received_at": "2026-12-07T10:00:00Z"}, "home")
    stages = explained["stages"]
    assert stages[0]["would_call"] == "would call provider realestate"
    assert (stages[1]["timeout_ms"], stages[1]["partners"]) == (1000, ["a", "b"])
    text = render_explanation(explained)
    assert "  stage ping_post [a, b] timeout 1000 ms: would call partners a, b (not called)" in text
    report = run_dry_run(DryRunRequest(world.tenant.id, baseline, proposed, version.number))
    # the replay sells to Sluice's own bid: partners are never called, their offers unknown
    assert report["statuses"]["after"] == {"assigned": 3}
    after = report["outbound"]["after"]
    assert [(s["kind"], s["stage"], s["leads"]) for s in after] == [
        ("enrich", 1, 3),
        ("ping_post", 2, 3),
    ]
    assert after[1]["note"] == "would call partners a, b (replayed with Sluice's own bids only)"
    assert "before: home stage 1 ping_post: would call partners a, b" in render_dry_run(report)
    assert len(partner_api.calls) == called


def test_an_own_bid_racing_for_its_last_unit_never_overruns_its_cap(
    outbound_world, threads_server, database_url
):
    """Leads posted at once through a ping_post stage: Sluice's own bid (20.00, cap 1 a
    day) beats the partner's 10.00 offer for exactly one of them; the others are posted."""
    from tests.api.test_ping_races import at_once, call

    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: routings cannot race")
    capped = CATEGORY.replace("price 20.00 when", "price 20.00 cap 1 per day when")
    world = outbound_world(ping_post("a"), {"a": ("/offer/10.00", "/post-accept")}, category=capped)
    answers = at_once(
        [lambda n=n: call(threads_server, "/api/leads", world.auth, lead(40 + n)) for n in range(6)]
    )
    assert all(answer["status_code"] == 201 for answer in answers), answers
    outcomes = sorted((answer["status"], answer["price"]) for answer in answers)
    assert outcomes == [("assigned", 20.0)] + [("posted", 10.0)] * 5
    assert gamma_balance() == 10_000 - 2000
    stored = Lead.select().where(Lead.status == "posted").count()
    assert stored == 5 and Lead.select().where(Lead.status == "pending").count() == 0


def test_the_calls_of_one_lead_stop_at_its_budget(outbound_world, monkeypatch):
    """Posts in turn to partners slow to answer never hold the worker past the budget."""
    from app.services import outbound

    monkeypatch.setattr(outbound, "CALL_BUDGET_S", 1.0)
    plan = "plan home {\n    stage post [slow, next]\n    stage marketplace\n}\n"
    world = outbound_world(
        plan, {"slow": ("/unused", "/slow/4000/9.00"), "next": ("/unused", "/post-accept")}
    )
    answer = world.post(lead(50))
    assert answer.json["status"] == "marketplace"
    calls = calls_of(answer.json["lead_public_id"])
    # cut at the 1 s budget, before its own 2 s timeout and its 4 s answer
    assert calls["slow"]["status"] == "timeout" and calls["slow"]["duration_ms"] < 1900
    assert calls["next"]["error"] == "not called: the lead's calls used their 1 s budget"


def test_an_inbound_ping_quotes_sluices_own_bids_and_calls_no_partner(outbound_world, partner_api):
    world = outbound_world(ping_post("a"), {"a": ("/offer/90.00", "/post-accept")})
    pinged = world.client.post(
        "/api/pings", json={"state": "FL", "zip": "33139"}, headers=world.auth
    )
    assert pinged.status_code == 200, pinged.json
    assert pinged.json["status"] == "accepted"
    assert [(bid["price"]) for bid in pinged.json["bids"]] == [20.0]
    assert partner_api.calls == []


def test_a_posted_lead_is_sold_in_a_routio_answer():
    from types import SimpleNamespace

    from app.api.routio import answer
    from app.domain.routing import Decision, Posted
    from app.domain.status import Status

    posted = Decision(Status.POSTED, "any", 2500, posted=Posted("a", "r-1"))
    body = answer(SimpleNamespace(public_id="lead_1", is_test=False), posted)
    assert body == {
        "success": True,
        "lead_id": "lead_1",
        "status": "sold",
        "price": 25,
        "buyer_ids": [],
        "outcome": "posted",
    }


def test_a_reprocess_job_and_an_approval_call_partners_after_committing(
    outbound_world, partner_api, monkeypatch
):
    """The job counts each lead in a transaction of its own, an approval commits with its
    review: the partners are called after, never inside (a rollback would forget them)."""
    from app.services import outbound, reprocess, review
    from app.services.worker import Worker
    from app.store.db import database

    in_transaction = []
    real = outbound.call_all

    def watched(*args, **kwargs):
        in_transaction.append(database.in_transaction())
        return real(*args, **kwargs)

    monkeypatch.setattr(outbound, "call_all", watched)
    audited = 'audit "Tester" in home when lower(first_name) == "test"\n'
    world = outbound_world(
        audited + "plan home {\n    stage post [a]\n}\n",
        {"a": ("/unused", "/post-reject")},
    )
    actor = operator_actor(world.tenant.code)
    refs = [world.post(lead(60 + n)).json["lead_public_id"] for n in range(2)]
    held = world.post(lead(62, first_name="Test")).json
    assert held["status"] == "audit"
    assert [Lead.get(Lead.public_id == ref).status for ref in refs] == ["unassigned"] * 2
    partners.update_partner(actor, "a", {"post_url": partner_api.url + "/post-accept"})
    job = reprocess.start_reprocess(actor, refs, start="post", test_price_cents=0)
    Worker().drain()
    assert reprocess.show_job(actor, job.public_id).succeeded == 2
    assert [Lead.get(Lead.public_id == ref).status for ref in refs] == ["posted"] * 2
    assert review.approve_lead(actor, held["lead_public_id"]).status == "posted"
    assert in_transaction == [False] * 5  # 2 posts at intake, 2 by the job, 1 approved


def test_deleting_a_lead_erases_what_its_partners_and_provider_saw(outbound_world):
    from app.services import deletion

    world = outbound_world(
        "plan home {\n    stage enrich realestate\n    stage post [a]\n}\n",
        {"a": ("/unused", "/post-accept")},
        providers={"realestate": "/property"},
    )
    ref = world.post(lead(70)).json["lead_public_id"]
    stored = Lead.get(Lead.public_id == ref)
    assert stored.status == "posted" and stored.enriched is not None
    deletion.delete_leads(operator_actor(world.tenant.code), [ref])
    stored = Lead.get(Lead.public_id == ref)
    assert stored.data == {} and stored.enriched is None
    events = timeline(ref)
    erased = [e for e in events if e.kind in ("partner_call", "enriched")]
    assert len(erased) == 3 and all(e.details is None for e in erased)
    assert "Pat Owner" not in str([(e.message, e.details) for e in events])


def test_equal_offers_go_to_the_partner_listed_first_and_a_priceless_one_is_declined(
    outbound_world, partner_api
):
    world = outbound_world(
        ping_post("first", "second", "noprice", "norule"),
        {
            "first": ("/offer/55.00", "/post-accept"),
            "second": ("/offer/55.00", "/post-accept"),
            "noprice": ("/post-accept", "/post-accept"),  # "sold": accepted, no price
            "norule": ("/offer/99.00", "/post-accept"),
        },
    )
    # its price rule removed after the rules were pushed (a push would have refused it)
    partners.update_partner(operator_actor(world.tenant.code), "norule", {"price_path": None})
    answer = world.post(lead(80))
    assert (answer.json["status"], answer.json["price"]) == ("posted", 55)
    assert Lead.get(Lead.public_id == answer.json["lead_public_id"]).posted_partner == "first"
    compared = next(e for e in timeline(answer.json["lead_public_id"]) if e.kind == "ping_post")
    rows = {row.get("partner") or row.get("bid"): row for row in compared.details["offers"]}
    assert rows["second"]["reason"] == "a tie: first is listed first in the stage"
    assert compared.details["declined"] == {
        "noprice": "malformed answer: an offer without a price",
        "norule": "accepted without a price: the partner has no price rule",
    }


def test_a_lead_pending_on_its_calls_is_left_alone_then_reprocessed_if_stranded(
    outbound_world, partner_api
):
    """A lead stays pending while its calls are in flight: reprocess and edit refuse it.
    One left pending longer (its process died mid-calls) is reprocessed by hand, which
    calls its partners again; it is never re-posted on its own."""
    from datetime import timedelta

    from app.domain.clock import utcnow
    from app.domain.errors import ConflictError
    from app.services import editing, leads, reprocess

    world = outbound_world(
        "plan home {\n    stage post [a]\n}\n", {"a": ("/unused", "/post-accept")}
    )
    actor = operator_actor(world.tenant.code)
    ref = world.post(lead(90)).json["lead_public_id"]
    # as the lead is between its routing and its calls' answers
    Lead.update(status="pending", updated_at=utcnow()).where(Lead.public_id == ref).execute()
    with pytest.raises(ConflictError, match="partner calls are in flight"):
        editing.edit_lead(actor, ref, {"first_name": "Kate"})
    plan = reprocess.plan_reprocess(actor, [ref])
    assert plan.eligible == 0
    stranded = utcnow() - timedelta(minutes=2)
    Lead.update(updated_at=stranded).where(Lead.public_id == ref).execute()
    assert leads.reprocess_lead(actor, ref, test_price_cents=0).status == "posted"
    assert [c.path for c in partner_api.calls] == ["/post-accept", "/post-accept"]
