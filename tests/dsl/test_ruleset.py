"""The compiled RuleSet: classification, audits, dedupe keys, bids, schedules, explain."""

import dataclasses
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from app.dsl import RulesError, compile_rules
from app.dsl.ruleset import Schedule
from tests.dsl.conftest import make_lead

TWO_CATEGORIES = """
category solar "Solar" { field state us_state required(ping) field zip zip required(ping) }
category roofing "Roofing" { field zip zip required(ping) field roof_age integer required(ping) }
lead_type tie_a "A" in solar when state == "CA"
lead_type tie_b "B" in solar when state == "CA"
lead_type any_roof "Roof" in roofing priority 5 when roof_age > 10
audit "Everyone" when zip == "00000"
dedupe "Zip" on zip within 10 minutes
bid b1 for customer "acme-roofs" on any_roof price 12.5
plan solar { stage marketplace }
plan roofing { stage bidding round_robin [b1] }
"""


def test_classify_follows_priority(ruleset):
    assert ruleset.classify(make_lead()).id == "premium"
    assert ruleset.classify(make_lead(state="TX")).id == "standard"
    assert ruleset.classify(make_lead(homeowner=False)).id == "other"
    assert ruleset.classify(make_lead(homeowner=None, monthly_bill=None)).id == "other"


def test_ties_go_to_file_order_and_no_fallback_means_uncategorized():
    rules = compile_rules({"two.rules": TWO_CATEGORIES})
    assert rules.classify({"state": "CA"}, "solar").id == "tie_a"
    assert rules.classify({"state": "NV"}, "solar") is None
    assert rules.classify({"roof_age": 11, "@category": "roofing"}).id == "any_roof"


def test_category_must_be_named_when_there_are_several():
    rules = compile_rules({"two.rules": TWO_CATEGORIES})
    with pytest.raises(ValueError, match="several categories"):
        rules.classify({"state": "CA"})
    with pytest.raises(KeyError):
        rules.classify({"state": "CA"}, "life")


def test_audits(ruleset):
    assert ruleset.audits(make_lead()) == []
    labels = [
        a.label for a in ruleset.audits(make_lead(email="x@mailinator.com", last_name="KATY"))
    ]
    assert labels == ["Disposable email", "Same first and last name"]
    assert [a.label for a in ruleset.audits(make_lead(dob="2010-01-01"))] == ["Too young"]
    assert ruleset.audits(make_lead(dob="2000-01-01")) == []


def test_audit_without_category_applies_to_every_category():
    rules = compile_rules({"two.rules": TWO_CATEGORIES})
    assert [a.label for a in rules.audits({"zip": "00000"}, "solar")] == ["Everyone"]
    assert [a.label for a in rules.audits({"zip": "00000"}, "roofing")] == ["Everyone"]


def test_dedupe_keys_are_normalized(ruleset):
    keys = dict((check.label, key) for check, key in ruleset.dedupe_keys(make_lead()))
    assert keys == {
        "Same phone, 30 days": "phone=15551234567",
        "Same email and zip, 7 days": "email=katy.berry@example.com|zip=33139",
    }
    other = make_lead(phone="(555) 123-4567", email="  Katy.Berry@EXAMPLE.com ")
    assert dict((c.label, k) for c, k in ruleset.dedupe_keys(other)) == keys


def test_dedupe_key_is_skipped_when_a_field_is_missing(ruleset):
    labels = [check.label for check, _ in ruleset.dedupe_keys(make_lead(email=None))]
    assert labels == ["Same phone, 30 days"]


def test_dedupe_window(ruleset):
    windows = {check.label: check.window.total_seconds() for check in ruleset.dedupes}
    assert windows == {"Same phone, 30 days": 30 * 86400, "Same email and zip, 7 days": 7 * 86400}


def test_text_dedupe_keys_fold_case_and_spaces():
    rules = compile_rules(
        {
            "d.rules": 'category c "C" { field name text }\n'
            'dedupe "Name" in c on name within 1 hours\n'
        }
    )
    assert rules.dedupe_keys({"name": "  Katy \t BERRY "})[0][1] == "name=katy berry"


def test_eligible_bids(ruleset):
    lead = make_lead()
    premium = ruleset.classify(lead)
    assert [b.id for b in ruleset.eligible_bids(lead, premium)] == [
        "sunco_premium",
        "brightside_all",
        "bargain_any",
    ]
    assert [b.id for b in ruleset.eligible_bids(make_lead(zip="10001"), premium)] == [
        "sunco_premium",
        "bargain_any",
    ]
    lead = make_lead(zip="90210", credit_score=600)
    assert [b.id for b in ruleset.eligible_bids(lead, "premium")] == [
        "brightside_all",
        "bargain_any",
    ]
    assert [b.id for b in ruleset.eligible_bids(make_lead(roof_type="flat"), "standard")] == [
        "bargain_any"
    ]
    assert ruleset.eligible_bids(lead, None) == []


def test_bid_terms(ruleset):
    sunco = ruleset.bids["sunco_premium"]
    assert sunco.price == Decimal("45.00") and sunco.customer == "sunco"
    assert (sunco.cap.limit, sunco.cap.period) == (100, "day")
    assert (sunco.budget.amount, sunco.budget.period) == (Decimal("3000"), "month")
    assert sunco.schedule.days == frozenset(range(5))
    assert ruleset.bids["brightside_all"].timezone == "UTC"
    assert ruleset.customers() == {"sunco", "brightside", "bargain"}


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2026-11-18T13:00:00+00:00", True),  # Wed 08:00 New York
        ("2026-11-18T12:59:59+00:00", False),  # Wed 07:59
        ("2026-11-19T00:59:00+00:00", True),  # Wed 19:59
        ("2026-11-19T01:00:00+00:00", False),  # Wed 20:00: the end is exclusive
        ("2026-11-21T15:00:00+00:00", False),  # Saturday
        ("2026-07-15T12:30:00+00:00", True),  # Wed 08:30 EDT (UTC-4)
    ],
)
def test_schedule_in_its_time_zone(ruleset, moment, is_open):
    schedule = ruleset.bids["sunco_premium"].schedule
    assert schedule.is_open(datetime.fromisoformat(moment)) is is_open


def test_overnight_and_end_of_day_windows():
    night = Schedule(frozenset({4}), time(22), time(6), "UTC")  # Friday 22:00 .. Saturday 06:00
    at = lambda text: datetime.fromisoformat(text + "+00:00")  # noqa: E731
    assert night.is_open(at("2026-11-20T23:00:00"))  # Friday night
    assert night.is_open(at("2026-11-21T05:59:00"))  # Saturday morning
    assert not night.is_open(at("2026-11-21T23:00:00"))  # Saturday night
    assert not night.is_open(at("2026-11-20T05:00:00"))  # Friday morning
    whole = Schedule(frozenset({0}), time(0), time(0), "UTC", end_of_day=True)
    assert whole.is_open(at("2026-11-16T23:59:59")) and not whole.is_open(at("2026-11-17T00:00:00"))


def test_schedule_days_wrap_around():
    rules = compile_rules(
        {
            "w.rules": 'category c "C" { field z zip required(ping) }\n'
            'lead_type t "T" in c fallback\n'
            'bid b for customer x on t price 1 schedule fri..mon, wed 22:00..06:00 "UTC"\n'
            "plan c { stage bidding highest_price }\n"
        }
    )
    assert rules.bids["b"].schedule.days == frozenset({4, 5, 6, 0, 2})


def test_period_start_in_the_bid_time_zone(ruleset):
    sunco = ruleset.bids["sunco_premium"]
    at = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # Thursday 22:30 in New York
    assert sunco.period_start("hour", at) == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    assert sunco.period_start("day", at) == datetime(2026, 11, 19, 5, 0, tzinfo=UTC)
    assert sunco.period_start("week", at) == datetime(2026, 11, 16, 5, 0, tzinfo=UTC)
    assert sunco.period_start("month", at) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # EDT then
    brightside = ruleset.bids["brightside_all"]
    assert brightside.period_start("day", at) == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def test_plans(ruleset):
    stages = ruleset.plans["solar"].stages
    assert [(s.kind, s.method, s.bids) for s in stages] == [
        ("bidding", "highest_price", None),
        ("marketplace", None, None),
    ]
    rules = compile_rules({"two.rules": TWO_CATEGORIES})
    assert rules.plans["roofing"].stages[0].bids == ("b1",)
    assert rules.bids["b1"].customer == "acme-roofs"


def test_field_reference(ruleset):
    fields = {f.name: f for f in ruleset.fields("solar")}
    assert list(fields)[:3] == ["first_name", "last_name", "email"]
    state = fields["state"]
    assert (state.type, state.required_ping, state.required_post, state.deliverable) == (
        "us_state",
        True,
        True,
        True,
    )
    assert fields["roof_type"].choices == ("shingle", "tile", "metal", "flat")
    assert fields["phone"].example == "+15551234567"  # examples are normalized
    assert fields["monthly_bill"].example == 180 and not fields["homeowner"].deliverable


def test_ruleset_is_immutable(ruleset):
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.content_hash = "x"
    with pytest.raises(TypeError):
        ruleset.bids["new"] = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        ruleset.bids["sunco_premium"].price = Decimal(0)


def test_compiling_is_cached_by_content_hash(ruleset):
    from tests.dsl.conftest import EXAMPLES

    texts = dict(ruleset.sources)
    assert compile_rules(EXAMPLES / "solar") is ruleset
    assert compile_rules(texts) is ruleset
    changed = {name: text + "\n# changed\n" for name, text in texts.items()}
    other = compile_rules(changed)
    assert other is not ruleset and other.content_hash != ruleset.content_hash
    assert compile_rules(texts, use_cache=False) is not ruleset


def test_errors_carry_every_diagnostic():
    text = (
        'category c "C" { field z zip }\n'
        'lead_type t "T" in d when q\n'
        "bid b for customer x on u price 1\n"
    )
    with pytest.raises(RulesError) as error:
        compile_rules({"bad.rules": text})
    assert [d.code for d in error.value.errors] == ["unknown-category", "unknown-lead-type"]
    report = error.value.report()
    assert "bad.rules:2:20: error[unknown-category]" in report and "2 error(s)" in report


def test_unreadable_and_empty_sources(tmp_path):
    with pytest.raises(RulesError) as error:
        compile_rules(tmp_path)
    assert error.value.diagnostics[0].code == "no-rule-files"
    with pytest.raises(RulesError) as error:
        compile_rules(tmp_path / "missing.rules")
    assert error.value.diagnostics[0].code == "unreadable-file"
    (tmp_path / "latin1.rules").write_bytes(b"# caf\xe9\n")
    with pytest.raises(RulesError) as error:
        compile_rules(tmp_path)
    assert error.value.diagnostics[0].code == "unreadable-file"


def test_explain_reports_every_rule(ruleset):
    lead = make_lead(state="TX", email="k@mailinator.com", zip="90210", roof_type="flat")
    explanation = ruleset.explain(lead)
    assert explanation["lead_type"] == {"id": "standard", "label": "Solar - homeowners"}
    tried = {entry["id"]: (entry["tried"], entry["matched"]) for entry in explanation["lead_types"]}
    assert tried == {"premium": (True, False), "standard": (True, True), "other": (False, True)}
    premium = explanation["lead_types"][0]["condition"]
    assert [c["value"] for c in premium["clauses"]] == [True, True, False]
    assert premium["clauses"][2]["values"] == {"state": "TX"}
    assert [a["matched"] for a in explanation["audits"]] == [True, False, False]
    bids = {b["id"]: b for b in explanation["bids"]}
    assert not bids["sunco_premium"]["eligible"] and "lead type" in bids["sunco_premium"]["reason"]
    assert bids["brightside_all"]["reason"] == "condition is false"
    assert bids["bargain_any"]["eligible"]
    assert explanation["dedupe"][0]["key"] == "phone=15551234567"


def test_explain_agrees_with_evaluation(ruleset):
    for lead in (make_lead(), make_lead(homeowner=False), make_lead(credit_score=500)):
        explanation = ruleset.explain(lead)
        assert explanation["lead_type"]["id"] == ruleset.classify(lead).id
        eligible = [b["id"] for b in explanation["bids"] if b["eligible"]]
        assert eligible == [b.id for b in ruleset.eligible_bids(lead, ruleset.classify(lead))]


def test_explain_agrees_with_evaluation_when_a_later_clause_has_a_bad_value():
    rules = compile_rules(
        {
            "x.rules": 'category c "C" { field owner bool required(ping) '
            "field bill number required(ping) }\n"
            'lead_type t "T" in c when owner or bill > 100\n'
            'lead_type f "F" in c fallback\nplan c { stage marketplace }\n'
        }
    )
    lead = {"owner": True, "bill": "abc"}
    explanation = rules.explain(lead)
    assert rules.classify(lead).id == explanation["lead_type"]["id"] == "t"
    skipped = explanation["lead_types"][0]["condition"]["clauses"][1]
    assert skipped["evaluated"] is False and "error" in skipped


MARKETPLACE = """
category home "Home" {
    field zip zip deliverable
    field phone phone
    field city text deliverable
}
lead_type any "Any" in home fallback
bid b for customer c on any price 9
plan home {
    stage bidding highest_price [b]
    stage marketplace price 12.50 teaser [zip, city, zip]
}
"""


def test_a_marketplace_stage_has_its_price_and_teaser_and_explain_shows_them():
    rules = compile_rules({"m.rules": MARKETPLACE})
    stage = rules.marketplace_of("home")
    assert (stage.price, stage.teaser) == (Decimal("12.50"), ("zip", "city"))
    explanation = rules.explain({"zip": "33139"}, "home")
    assert explanation["stages"] == [
        {"kind": "bidding", "method": "highest_price", "bids": ["b"]},
        {"kind": "marketplace", "price": "12.50", "teaser": ["zip", "city"]},
    ]
    free = compile_rules(
        {"m.rules": MARKETPLACE.replace("price 12.50 teaser [zip, city, zip]", "")}
    )
    assert (free.marketplace_of("home").price, free.marketplace_of("home").teaser) == (None, ())
    assert free.explain({}, "home")["stages"][1]["price"] == "0.00"
