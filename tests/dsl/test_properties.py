"""Property-based tests: the compiler agrees with the reference interpreter, always."""

import string

import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dsl import ast, compile_condition, parse_condition
from app.dsl.compiler import compile_value
from app.dsl.interpreter import evaluate, evaluate_value
from app.dsl.regex import compile_regex
from tests.dsl.strategies import FIELDS, condition, leads, value_of


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition(3), st.lists(leads(), min_size=1, max_size=8))
def test_compiled_predicate_matches_interpreter(node, sample):
    text = ast.unparse(node)
    predicate = compile_condition(text, FIELDS)
    parsed = parse_condition(text, FIELDS)
    for lead in sample:
        assert predicate(lead) == evaluate(parsed, lead), (text, lead)


# A `set` line's value (stage alter) is an expression of any type, compiled the same way.
set_values = st.one_of(
    *(value_of(kind, 3) for kind in ("string", "number", "bool", "date", "datetime")),
    condition(1),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(set_values, st.lists(leads(), min_size=1, max_size=8))
def test_compiled_value_matches_interpreter(node, sample):
    function, _ = compile_value(node)
    for lead in sample:
        compiled, interpreted = function(lead), evaluate_value(node, lead)
        assert compiled == interpreted and type(compiled) is type(interpreted), (
            ast.unparse(node),
            lead,
        )


@settings(max_examples=400, deadline=None)
@given(condition(3))
def test_unparse_round_trips(node):
    text = ast.unparse(node)
    assert ast.unparse(parse_condition(text, FIELDS)) == text


# -- the regex fast path agrees with RE2 ---------------------------------------------------

_pieces = st.one_of(
    st.sampled_from(list("ab9Z.")),
    st.sampled_from([r"\d", r"\w", r"\s", r"[a-c]", r"[^b]", r"[0-9]{2}", r"\b", r"(?:ab)", "(a)"]),
)
fast_patterns = st.builds(
    lambda start, body, end: start + "".join(body) + end,
    st.sampled_from(["", "^", r"\A"]),
    st.lists(_pieces, min_size=1, max_size=5),
    st.sampled_from(["", "$", r"\z"]),
)
subjects = st.text(
    alphabet=st.sampled_from(list("ab9Z_ \n\t") + ["é", "٣", "\u212a", "ß"]), max_size=8
)


def _re2_only(pattern: str, text: str) -> bool:
    options = re2.Options()
    options.log_errors = False
    compiled = re2._re2.RE2(pattern.encode(), options)
    data = text.encode()
    return compiled.Match(re2._re2.RE2.Anchor.UNANCHORED, data, 0, len(data))[0][0] >= 0


@settings(max_examples=1500, deadline=None)
@given(fast_patterns, subjects)
def test_fast_regex_path_agrees_with_re2(pattern, text):
    if pattern.endswith(r"\z"):  # RE2 spelling of end-of-text; Python has \Z
        regex = compile_regex(pattern)
        assert regex.engine == "re2"
    regex = compile_regex(pattern)
    assert regex.test(text) == _re2_only(pattern, text), (pattern, text, regex.engine)


def test_fast_path_is_used_for_plain_patterns():
    assert compile_regex("^9[0-6]").engine == "re"
    assert compile_regex(r"^\d{5}$").engine == "re"
    assert compile_regex("^(a|b)+$").engine == "re2"
    assert compile_regex("abc", "i").engine == "re2"


def test_dollar_before_final_newline_follows_re2():
    regex = compile_regex("a$")
    assert regex.engine == "re" and not regex.test("a\n") and regex.test("a")


@given(st.text(alphabet=string.printable, max_size=30))
def test_arbitrary_expression_text_never_crashes(text):
    from app.dsl import RulesError

    try:
        compile_condition(text, FIELDS)
    except RulesError as error:
        assert error.diagnostics
