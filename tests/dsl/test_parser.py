"""Parsing: every construct, plain-word syntax errors, limits, and fuzzing."""

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.dsl import ast, check_texts
from app.dsl.parser import MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_NODES, parse_file

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "solar" / "solar.rules").read_text()
PREAMBLE = """category solar "Solar" {
    field state us_state required(ping)
    field zip zip required(ping)
}
plan solar { stage bidding highest_price }
"""


def codes(text: str) -> list[tuple[str, int, int]]:
    _, diagnostics = check_texts({"t.rules": text})
    return [(d.code, d.line, d.column) for d in diagnostics]


def test_example_parses_into_every_declaration_kind():
    parsed = parse_file(EXAMPLE, "solar.rules")
    assert parsed.diagnostics == []
    kinds = [type(d).__name__ for d in parsed.declarations]
    assert kinds == ["CategoryDecl"] + ["LeadTypeDecl"] * 3 + ["AuditDecl"] * 3 + [
        "DedupeDecl"
    ] * 2 + ["BidDecl"] * 3 + ["PlanDecl"]


def test_declarations_keep_their_source_positions():
    parsed = parse_file(EXAMPLE, "solar.rules")
    premium = parsed.declarations[1]
    assert (premium.pos.line, premium.id.pos.line, premium.id.pos.column) == (20, 20, 11)
    assert (
        premium.source == 'homeowner and monthly_bill >= 150 and state in ["CA", "NV", "AZ", "FL"]'
    )


def test_keywords_are_reserved_only_where_they_can_appear():
    text = """category c "C" {
    field price number required(ping)
    field source text required(ping)
    field when text required(ping)
}
lead_type t "T" in c when price > 1 and source == "x" and when == "y"
plan c { stage bidding highest_price }
"""
    assert codes(text) == []


def test_comments_and_blank_lines_anywhere():
    assert codes("# only a comment\n\n" + PREAMBLE + "# trailing comment") == []


def test_single_equals_gets_a_hint():
    _, diagnostics = check_texts({"t.rules": PREAMBLE + 'audit "a" when state = "CA"\n'})
    (diagnostic,) = diagnostics
    assert diagnostic.code == "syntax" and (diagnostic.line, diagnostic.column) == (6, 22)
    assert diagnostic.message == "unexpected character '='"
    assert "==" in diagnostic.hint


def test_expected_tokens_are_named_in_plain_words():
    _, diagnostics = check_texts({"t.rules": PREAMBLE + 'lead_type x "X" in solar\n'})
    (diagnostic,) = diagnostics
    assert "'when'" in diagnostic.message and "'fallback'" in diagnostic.message
    assert "WHEN" not in diagnostic.message and "__ANON" not in diagnostic.message


def test_each_broken_declaration_reports_its_own_error():
    text = PREAMBLE + (
        'audit "a" when state = "CA"\n'
        'audit "b" when zip ==\n'
        'audit "c" when zip == "33139"\n'
        'audit "d" when (zip == "1"\n'
    )
    assert [c[:2] for c in codes(text)] == [("syntax", 6), ("syntax", 7), ("syntax", 9)]


def test_references_to_unparsable_declarations_do_not_cascade():
    text = (
        PREAMBLE + 'lead_type t "T" in solar when state = "CA"\nbid b for customer c on t price 1\n'
    )
    assert [c[0] for c in codes(text)] == ["syntax"]


def nested(depth: int) -> str:
    """Return `(zip == "1" and (zip == "1" or (...)))`, `depth` levels deep."""
    text = 'zip == "1"'
    for level in range(depth):
        text = f'(zip == "1" {"and" if level % 2 else "or"} {text})'
    return text


def test_redundant_parentheses_add_no_depth():
    depth = 5_000
    text = PREAMBLE + 'audit "parens" when ' + "(" * depth + 'zip == "1"' + ")" * depth + "\n"
    assert codes(text) == []


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    text = PREAMBLE + 'audit "deep" when ' + nested(3_000) + "\n"
    assert [c[0] for c in codes(text)] == ["expression-too-deep"]
    text = PREAMBLE + 'audit "deep" when ' + "not " * 3_000 + 'zip == "1"\n'
    assert [c[0] for c in codes(text)] == ["expression-too-deep"]


def test_nesting_within_the_limit_is_fine():
    text = PREAMBLE + 'audit "ok" when ' + nested(MAX_EXPRESSION_DEPTH // 3) + "\n"
    assert codes(text) == []


def test_expression_size_is_bounded():
    clauses = " or ".join(f'zip == "{n:05d}"' for n in range(MAX_EXPRESSION_NODES))
    assert [c[0] for c in codes(PREAMBLE + f'audit "big" when {clauses}\n')] == [
        "expression-too-large"
    ]


def test_long_lists_are_fine_and_bounded():
    zips = ", ".join(f'"{n:05d}"' for n in range(50_000))
    assert codes(PREAMBLE + f'audit "zips" when zip in [{zips}]\n') == []


def test_file_size_is_bounded():
    text = PREAMBLE + "#" * 2_100_000
    assert [c[0] for c in codes(text)] == ["file-too-large"]


def test_list_length_is_bounded():
    from app.dsl import parser

    items = ", ".join(["1"] * (parser.MAX_LIST_ITEMS + 1))
    text = (
        'category c "C" { field n number required(ping) }\naudit "a" in c when n in [' + items + "]"
    )
    assert [c[0] for c in codes(text)] == ["list-too-long"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_yields_only_diagnostics(text):
    check_texts({"fuzz.rules": text})  # must not raise


TOKENS = [
    '"x"',
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    "==",
    "and",
    "or",
    "not",
    "when",
    "in",
    "/a/",
    "1",
    "2024-01-01",
    "..",
    "08:00",
    "@source",
    "field",
    "bid",
    "plan",
    "\n",
    "lead_type",
    "matches",
    "between",
    "is",
    "missing",
    "-",
    "*",
    "#",
]


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 8))
def test_mutated_rule_files_yield_only_diagnostics(rng: random.Random, mutations: int):
    text = EXAMPLE
    for _ in range(mutations):
        position = rng.randrange(len(text))
        action = rng.choice(["delete", "insert", "replace"])
        width = rng.randint(1, 12)
        if action == "delete":
            text = text[:position] + text[position + width :]
        elif action == "insert":
            text = text[:position] + " " + rng.choice(TOKENS) + " " + text[position:]
        else:
            text = text[:position] + rng.choice(TOKENS) + text[position + width :]
    _, diagnostics = check_texts({"mutated.rules": text})
    for diagnostic in diagnostics:
        assert diagnostic.line >= 1 and diagnostic.column >= 1 and diagnostic.message


def test_unparse_of_the_example_conditions_is_stable():
    parsed = parse_file(EXAMPLE, "solar.rules")
    for declaration in parsed.declarations:
        condition = getattr(declaration, "condition", None)
        if condition is not None:
            assert ast.unparse(condition) == declaration.source


def test_stage_arguments_are_generic_so_new_stages_need_no_grammar_change():
    text = 'plan solar { stage enrich "https://example.test/api" 2500 [a, b] mode }'
    parsed = parse_file(text, "t.rules")
    assert parsed.diagnostics == []
    (stage,) = parsed.declarations[0].stages
    assert stage.kind.value == "enrich"
    url, timeout, bids, mode = stage.args
    assert (url.value, timeout.value, [b.value for b in bids], mode.value) == (
        "https://example.test/api",
        2500,
        ["a", "b"],
        "mode",
    )


def test_times_after_day_names_are_times_not_numbers():
    text = 'bid b for customer x on t price 1 schedule mon..fri, sun 08:00..20:00 "UTC"'
    assert parse_file(text, "t.rules").diagnostics == []


def test_a_category_with_many_fields_is_not_an_expression():
    fields = "\n".join(
        f'    field f{n} text required(ping, post) deliverable example "x"' for n in range(600)
    )
    assert codes(f'category big "Big" {{\n{fields}\n}}\n') == []


def test_strings_may_contain_tabs_as_typed():
    text = 'category c "C" { field z zip required(ping) }\naudit "a\tb" in c when z == "1"\n'
    assert codes(text) == []


def test_single_quotes_get_a_hint():
    _, diagnostics = check_texts({"t.rules": PREAMBLE + "audit \"a\" when state == 'CA'\n"})
    (diagnostic,) = diagnostics
    assert "double quotes" in diagnostic.hint


def test_recovery_says_where_a_declaration_ends():
    text = PREAMBLE + 'audit "a" when (zip == "1"\naudit "b" when zip = "2"\n'
    _, diagnostics = check_texts({"t.rules": text})
    assert diagnostics[0].message == "unexpected end of the declaration; expected ')'"
