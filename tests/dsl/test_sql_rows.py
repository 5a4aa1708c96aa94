"""Rules to SQL, the cheaper PostgreSQL shapes: values of another JSON type, shared rows.

The PostgreSQL translation reads a value the cheapest exact way its use allows (a
containment for true/false, the `->>` text for strings, checked to be a string only where
it matters) and, with `RowValues`, once per row for every condition of a query. These
tests hold it to the documented semantics where the plain property tests cannot reach:
a value of another JSON type (a number where text is declared, an array, ...) reads as
missing, on SQLite and on PostgreSQL, inline and over shared rows.
"""

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.dsl import ast, compile_condition, parse_condition
from app.dsl.sql import RowValues, Sql, plain_string, sql, to_sql
from tests.dsl.strategies import FIELDS, VALUES, condition, datetimes, leads
from tests.dsl.test_sql import store  # noqa: F401  (the SQLite and PostgreSQL fixture)

OTHER_VALUES = {  # values of another JSON type, printed by `->>` like the declared ones
    "string": [0, 9, 12, -1.5, 33139, True, False, ["a"], [0], {"a": "b"}, {}],
    "number": ["1", "0", "-1.5", "a", "", True, False, [1], {"n1": 1}],
    "bool": ["true", "false", "yes", 1, 0, [True], {"b1": True}],
}
KINDS = {
    "text": "string",
    "date": "string",
    "datetime": "string",
    "number": "number",
    "integer": "number",
    "bool": "bool",
}


def of_declared_type(name: str, value) -> bool:
    kind = KINDS[FIELDS[name]]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


@st.composite
def mistyped_leads(draw):
    """A lead whose fields may be absent, null, a value, or a value of another JSON type."""
    lead = {"@received_at": draw(datetimes), "@is_test": draw(st.booleans())}
    for name, values in VALUES.items():
        choice = draw(st.sampled_from(["absent", "null", "value", "other", "other"]))
        if choice == "null":
            lead[name] = None
        elif choice == "value":
            lead[name] = draw(values)
        elif choice == "other":
            lead[name] = draw(st.sampled_from(OTHER_VALUES[KINDS[FIELDS[name]]]))
    return lead


def as_missing(lead: dict) -> dict:
    """The lead as the SQL sees it: values of another JSON type are missing."""
    return {k: v for k, v in lead.items() if k.startswith("@") or of_declared_type(k, v)}


def asks_presence(node: ast.Node) -> bool:
    """Whether `is missing` is asked of a field itself: that asks for presence, not type."""
    return any(
        isinstance(part, ast.IsMissing) and isinstance(part.operand, ast.FieldRef)
        for part in ast.walk(node)
    )


def check(found: set, expected: set, exact: bool, context) -> None:
    if exact:
        assert found == expected, context
    else:
        assert found >= expected, context  # a superset, re-checked in Python


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(node=condition(3), sample=st.lists(mistyped_leads(), min_size=1, max_size=10))
def test_a_value_of_another_json_type_reads_as_missing(store, node, sample):  # noqa: F811
    assume(not asks_presence(node))
    text = ast.unparse(node)
    predicate = compile_condition(text, FIELDS)
    where = to_sql(parse_condition(text, FIELDS), FIELDS, store.dialect)
    store.replace(sample)
    expected = {i for i, lead in enumerate(sample) if predicate(as_missing(lead))}
    check(store.select(where), expected, where.exact, (text, where.sql))


def select_rows(store, nodes):  # noqa: F811
    """Translate the conditions over one RowValues; return (wheres, [ids each selects])."""
    row = RowValues("data")
    wheres = [to_sql(node, FIELDS, "postgresql", row=row) for node in nodes]
    lead_id = row.expression(Sql("id"))
    columns = sql(
        ", ".join(["{id}"] + [f"COALESCE({{w{i}}}, FALSE)" for i in range(len(wheres))]),
        id=lead_id,
        **{f"w{i}": Sql(w.sql, w.params) for i, w in enumerate(wheres)},
    )
    statement = sql("SELECT {c} FROM {rows}", c=columns, rows=row.rows(Sql(store.table)))
    rows = store.rows(statement)
    return wheres, [{r[0] for r in rows if r[1 + i]} for i in range(len(wheres))]


def check_shared(lead_store, nodes, sample, seen_as) -> None:
    """Store the sample; each condition over shared row values selects the leads its
    predicate selects on `seen_as(lead)`."""
    lead_store.replace(sample)
    wheres, found = select_rows(lead_store, nodes)
    for node, where, ids in zip(nodes, wheres, found, strict=True):
        predicate = compile_condition(ast.unparse(node), FIELDS)
        expected = {i for i, lead in enumerate(sample) if predicate(seen_as(lead))}
        check(ids, expected, where.exact, (ast.unparse(node), where.sql))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    nodes=st.lists(condition(2), min_size=1, max_size=4),
    sample=st.lists(leads(), min_size=1, max_size=10),
)
def test_conditions_sharing_row_values_select_what_each_predicate_selects(store, nodes, sample):  # noqa: F811
    if store.dialect != "postgresql":
        return
    check_shared(store, nodes, sample, lambda lead: lead)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    nodes=st.lists(condition(2), min_size=1, max_size=4),
    sample=st.lists(mistyped_leads(), min_size=1, max_size=10),
)
def test_shared_row_values_read_another_json_type_as_missing(store, nodes, sample):  # noqa: F811
    if store.dialect != "postgresql":
        return
    nodes = [node for node in nodes if not asks_presence(node)]
    assume(nodes)
    check_shared(store, nodes, sample, as_missing)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("CA", True),
        ("", True),
        ("flat", True),
        (" 1", True),
        ("trueish", True),
        ("1", False),
        ("-1.5", False),
        ("true", False),
        ("false", False),
        ("[1]", False),
        ("{}", False),
        ("12ab", False),
    ],
)
def test_plain_strings_are_what_no_other_json_value_prints_as(value, plain):
    assert plain_string(value) is plain


SHAPES = [  # (condition, a piece of its PostgreSQL translation)
    ("b1", "data @> %s::jsonb"),
    ("b1 != true", "data @> %s::jsonb"),
    ('s1 == "a"', "(data ->> %s) = %s::text"),
    ('s1 in ["a", "b"]', "(data ->> %s) = ANY(%s::text[])"),
    ("s1 is missing", "(data ->> %s) IS NOT NULL"),
    ('s1 == "1"', "jsonb_typeof(data -> %s) = 'string'"),  # "1" is how the number 1 prints
]


@pytest.mark.parametrize(("text", "piece"), SHAPES)
def test_cheap_shapes(text, piece):
    where = to_sql(parse_condition(text, FIELDS), FIELDS, "postgresql")
    assert piece in where.sql and where.exact


RECEIVED = "2026-03-01T00:00:00Z"


@pytest.mark.parametrize(
    ("born", "age"),
    [
        ("2008-03-01", 18),
        ("2008-03-02", 17),
        ("2008-02-29", 18),
        ("2026-03-01", 0),
        ("2026-03-02", -1),
        ("2027-03-01", -1),
        ("2027-03-02", -2),
        ("1900-01-01", 126),
    ],
)
def test_age_counts_whole_years_as_python_does(store, born, age):  # noqa: F811
    lead = {"d1": born, "@received_at": RECEIVED}
    assert compile_condition(f"age(d1) == {age}", FIELDS)(lead)
    where = to_sql(parse_condition(f"age(d1) == {age}", FIELDS), FIELDS, store.dialect)
    store.replace([lead])
    assert store.select(where) == {0}


@pytest.mark.parametrize(
    ("text", "lead", "expected"),
    [
        ("s1 matches /^(a|bc)/", {"s1": "bcd"}, True),
        ("s1 matches /^(a|bc)/", {"s1": "b"}, False),
        ("s1 not matches /^(a|bc)/", {"s1": "b"}, True),
        ("s1 not matches /^(a|bc)/", {}, False),
        ("s1 matches /^(0|9)/", {"s1": 90}, False),  # a number printed as "90"
        ("s1 not matches /^(0|9)/", {"s1": 1}, False),
        ('s1 ends_with "b"', {"s1": ["ab"]}, False),
        ('s1 != "a"', {"s1": 5}, False),
        ('s1 not in ["a"]', {"s1": True}, False),
        ('s1 < "b"', {"s1": "B"}, True),
    ],
)
def test_examples(store, text, lead, expected):  # noqa: F811
    where = to_sql(parse_condition(text, FIELDS), FIELDS, store.dialect)
    store.replace([lead])
    assert (0 in store.select(where)) is expected
