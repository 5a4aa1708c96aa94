"""Property-based tests: the compiler agrees with the reference interpreter, always."""

import string

import re2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dsl import ast, compile_condition, parse_condition
from app.dsl.interpreter import evaluate
from app.dsl.regex import compile_regex

FIELDS = {
    "s1": "text",
    "s2": "text",
    "n1": "number",
    "n2": "integer",
    "b1": "bool",
    "b2": "bool",
    "d1": "date",
    "t1": "datetime",
}
BY_TYPE = {
    "string": ["s1", "s2"],
    "number": ["n1", "n2"],
    "bool": ["b1", "b2"],
    "date": ["d1"],
    "datetime": ["t1"],
}
PATTERNS = ["^a", "b$", "^[ab]{2}", "a.c", "^(a|b)+$", "(a+)+$", "[0-9]", "ab", "x", "A", "^$"]

short_text = st.text(alphabet="abcAB 09\n", max_size=4)
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0, 100]))
dates = st.dates(
    min_value=__import__("datetime").date(1990, 1, 1),
    max_value=__import__("datetime").date(2030, 12, 31),
).map(lambda d: d.isoformat())
datetimes = st.sampled_from(
    ["2026-01-01T00:00:00Z", "2026-11-18T15:00:00Z", "2025-06-30T23:59:59Z", "1999-12-31T12:00:00Z"]
)
LITERALS = {
    "string": short_text.map(lambda v: ast.Literal(v, "string")),
    "number": numbers.map(lambda v: ast.Literal(v, "number")),
    "bool": st.booleans().map(lambda v: ast.Literal(v, "bool")),
    "date": dates.map(lambda v: ast.Literal(v, "date")),
    "datetime": datetimes.map(lambda v: ast.Literal(v, "datetime")),
}


def value_of(kind: str, depth: int):
    """A strategy of well-typed value expressions of a kind."""
    leaves = st.one_of(LITERALS[kind], st.sampled_from(BY_TYPE[kind]).map(ast.FieldRef))
    if kind == "datetime":
        leaves = st.one_of(leaves, st.just(ast.MetaRef("received_at")))
    if depth <= 0:
        return leaves
    if kind == "string":
        inner = value_of("string", depth - 1)
        return st.one_of(
            leaves, st.builds(ast.Call, st.sampled_from(["lower", "upper"]), st.tuples(inner))
        )
    if kind == "number":
        inner = value_of("number", depth - 1)
        return st.one_of(
            leaves,
            st.builds(ast.Arith, st.sampled_from("+-*/"), inner, inner),
            st.builds(ast.Neg, inner),
            st.builds(ast.Call, st.just("len"), st.tuples(value_of("string", depth - 1))),
            st.builds(
                ast.Call,
                st.sampled_from(["age", "days_since"]),
                st.tuples(st.one_of(value_of("date", 0), value_of("datetime", 0))),
            ),
        )
    return leaves


def condition(depth: int):
    """A strategy of well-typed conditions."""
    kinds = st.sampled_from(["string", "number", "date", "datetime"])
    ordered = kinds.flatmap(
        lambda k: st.builds(
            ast.Compare,
            st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
            value_of(k, 1),
            value_of(k, 1),
        )
    )
    equal_bool = st.builds(
        ast.Compare, st.sampled_from(["==", "!="]), value_of("bool", 0), value_of("bool", 0)
    )
    in_list = kinds.flatmap(
        lambda k: st.builds(
            ast.InList,
            value_of(k, 1),
            st.lists(LITERALS[k], max_size=4).map(lambda items: ast.ListLiteral(tuple(items))),
            st.booleans(),
        )
    )
    between = kinds.flatmap(
        lambda k: st.builds(
            ast.Between, value_of(k, 1), value_of(k, 0), value_of(k, 0), st.booleans()
        )
    )
    string_test = st.builds(
        ast.StringTest,
        st.sampled_from(["starts_with", "ends_with", "contains"]),
        value_of("string", 1),
        value_of("string", 1),
        st.booleans(),
    )
    matches = st.builds(
        ast.Matches,
        value_of("string", 1),
        st.builds(ast.Regex, st.sampled_from(PATTERNS), st.sampled_from(["", "i"])),
        st.booleans(),
    )
    missing = st.builds(ast.IsMissing, st.one_of(*(value_of(k, 1) for k in BY_TYPE)), st.booleans())
    bool_leaf = st.one_of(value_of("bool", 0), st.sampled_from([ast.MetaRef("is_test")]))
    leaves = st.one_of(
        ordered, equal_bool, in_list, between, string_test, matches, missing, bool_leaf
    )
    if depth <= 0:
        return leaves
    inner = condition(depth - 1)
    return st.one_of(
        leaves,
        st.builds(ast.Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: ast.And(tuple(items))),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: ast.Or(tuple(items))),
    )


VALUES = {
    "s1": short_text,
    "s2": short_text,
    "n1": numbers,
    "n2": st.integers(-3, 3),
    "b1": st.booleans(),
    "b2": st.booleans(),
    "d1": dates,
    "t1": datetimes,
}


@st.composite
def leads(draw):
    """A lead where every field may be absent, null or a value."""
    lead = {"@received_at": draw(datetimes), "@is_test": draw(st.booleans())}
    for name, values in VALUES.items():
        choice = draw(st.sampled_from(["absent", "null", "value", "value"]))
        if choice == "null":
            lead[name] = None
        elif choice == "value":
            lead[name] = draw(values)
    return lead


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition(3), st.lists(leads(), min_size=1, max_size=8))
def test_compiled_predicate_matches_interpreter(node, sample):
    text = ast.unparse(node)
    predicate = compile_condition(text, FIELDS)
    parsed = parse_condition(text, FIELDS)
    for lead in sample:
        assert predicate(lead) == evaluate(parsed, lead), (text, lead)


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
