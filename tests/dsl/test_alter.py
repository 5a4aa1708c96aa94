"""`stage alter`: parsing, checking, what each `set` line does, and explain."""

import json

from click.testing import CliRunner

from app.cli import main
from app.dsl import check_texts, compile_rules
from app.dsl.parser import parse_file
from app.dsl.ruleset import APPLIED, CONDITION_FALSE, INVALID, MISSING, UNCHANGED

RULES = """category home "Home" {
    field state us_state deliverable
    field monthly_bill number deliverable
    field roof one of ["shingle", "tile", "flat"] deliverable
    field set text
}
lead_type any "Any" in home fallback
bid ny for customer acme on any price 10 when state == "NY"
bid big for customer acme on any price 5 when monthly_bill >= 200
plan home {
    stage alter {
        set state = "NY" when state is missing          # default a missing field
        set monthly_bill = monthly_bill * 2 when roof == "tile"
        set roof = "flat" when roof == "shingle"         # map values
        set set = lower(set)                             # normalise; `set` is a field name too
    }
    stage bidding highest_price
}
"""


def rules():
    return compile_rules({"home.rules": RULES})


def lines():
    (alter, _) = rules().plans["home"].stages
    return alter.sets


def test_alter_stage_parses_into_set_lines_with_positions():
    parsed = parse_file(RULES, "home.rules")
    assert parsed.diagnostics == []
    alter = parsed.declarations[-1].stages[0]
    assert alter.kind.value == "alter" and alter.args == ()
    first = alter.block[0]
    assert (first.target.value, first.source, first.condition_source) == (
        "state",
        '"NY"',
        "state is missing",
    )
    assert (first.pos.line, first.pos.column) == (12, 9)
    assert alter.block[3].target.value == "set" and alter.block[3].condition is None


def test_a_valid_alter_stage_has_no_diagnostics():
    _, diagnostics = check_texts({"home.rules": RULES})
    assert diagnostics == []


def test_set_is_only_reserved_at_the_start_of_a_line():
    text = RULES.replace("field set text", "field set text\n    field alter text")
    text = text.replace(
        "bid big", 'bid alter_bid for customer acme on any price 1 when alter == "x"\nbid big'
    )
    _, diagnostics = check_texts({"home.rules": text})
    assert diagnostics == []


def test_a_line_sets_the_normalized_value():
    state, bill, roof, name = lines()
    assert state.outcome({}) == (APPLIED, "NY")
    assert bill.outcome({"roof": "tile", "monthly_bill": 120}) == (APPLIED, 240)
    assert roof.outcome({"roof": "shingle"}) == (APPLIED, "flat")
    assert name.outcome({"set": "ACME"}) == (APPLIED, "acme")


def test_a_line_whose_value_is_missing_changes_nothing():
    _, bill, _, name = lines()
    assert bill.outcome({"roof": "tile"}) == (MISSING, None)
    assert name.outcome({}) == (MISSING, None)


def test_a_line_whose_condition_is_false_changes_nothing():
    state, bill, _, _ = lines()
    assert state.outcome({"state": "CA"}) == (CONDITION_FALSE, None)
    assert bill.outcome({"roof": "flat", "monthly_bill": 100}) == (CONDITION_FALSE, None)


def test_a_line_setting_the_same_value_is_unchanged():
    *_, name = lines()
    assert name.outcome({"set": "acme"}) == (UNCHANGED, "acme")


def test_a_value_the_field_cannot_hold_is_not_set():
    text = RULES.replace("set set = lower(set)", "set state = upper(set)")
    (alter, _) = compile_rules({"home.rules": text}).plans["home"].stages
    result, why = alter.sets[3].outcome({"set": "zz"})
    assert result == INVALID and "US state" in why


def test_explain_shows_each_line_applied_or_not_and_why():
    explanation = rules().explain({"roof": "tile", "monthly_bill": 150, "@category": "home"})
    (alter, bidding) = explanation["stages"]
    assert bidding["kind"] == "bidding"
    results = [(line["field"], line["result"]) for line in alter["lines"]]
    assert results == [
        ("state", "applied"),
        ("monthly_bill", "applied"),
        ("roof", "condition_false"),
        ("set", "missing"),
    ]
    assert alter["lines"][1]["before"] == 150 and alter["lines"][1]["after"] == 300
    assert alter["lines"][2]["reason"] == "its condition is false"
    assert "missing" in alter["lines"][3]["reason"]
    assert explanation["altered"] == {"roof": "tile", "monthly_bill": 300, "state": "NY"}
    # The bids are evaluated on the values the alter stage left.
    bids = {bid["id"]: bid["eligible"] for bid in explanation["bids"]}
    assert bids == {"ny": True, "big": True}


def test_explain_without_a_change_says_the_data_is_as_received():
    explanation = rules().explain({"state": "CA", "roof": "flat", "@category": "home"})
    assert explanation["altered"] is None
    assert {bid["id"]: bid["eligible"] for bid in explanation["bids"]} == {
        "ny": False,
        "big": False,
    }


def test_sluice_explain_renders_the_alter_lines(tmp_path):
    (tmp_path / "home.rules").write_text(RULES)
    lead = tmp_path / "lead.json"
    lead.write_text(json.dumps({"roof": "tile", "monthly_bill": 150}))
    result = CliRunner().invoke(main, ["explain", str(tmp_path / "home.rules"), str(lead)])
    assert result.exit_code == 0, result.output
    assert "stage alter:" in result.output
    assert '✓ line 12: set state: null -> "NY"' in result.output
    assert "✓ line 13: set monthly_bill: 150 -> 300" in result.output
    assert "✗ line 14: set roof: condition_false: its condition is false" in result.output
    assert '✗ roof == "shingle"' in result.output
