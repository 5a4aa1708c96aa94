"""Hypothesis strategies: well-typed random expressions and leads with missing values."""

import datetime

from hypothesis import strategies as st

from app.dsl import ast

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
    min_value=datetime.date(1990, 1, 1),
    max_value=datetime.date(2030, 12, 31),
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
