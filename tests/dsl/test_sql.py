"""Rules to SQL: the WHERE clause selects exactly the leads the Python predicate selects.

Runs on SQLite always and on PostgreSQL when SLUICE_TEST_DATABASE_URL is set (failing,
not skipping, when SLUICE_REQUIRE_SERVICES=1 and it is unreachable).
"""

import json
import os
import sqlite3
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.dsl import ast, compile_condition, parse_condition
from app.dsl.sql import to_sql
from app.dsl.sqldialects import portable_pattern, register_sqlite_functions
from tests.dsl.strategies import FIELDS, condition, leads

PG_URL = os.environ.get("SLUICE_TEST_DATABASE_URL")
REQUIRE = os.environ.get("SLUICE_REQUIRE_SERVICES") == "1"


class SqliteLeads:
    dialect = "sqlite"

    def __init__(self):
        self.connection = sqlite3.connect(":memory:")
        register_sqlite_functions(self.connection)
        self.connection.execute("CREATE TABLE leads (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")

    def replace(self, sample):
        self.connection.execute("DELETE FROM leads")
        self.connection.executemany(
            "INSERT INTO leads (id, data) VALUES (?, ?)",
            [(i, json.dumps(lead)) for i, lead in enumerate(sample)],
        )

    def select(self, where):
        query = f"SELECT id FROM leads WHERE {where.sql}"
        return {row[0] for row in self.connection.execute(query, where.params)}


class PostgresLeads:
    dialect = "postgresql"

    def __init__(self):
        import psycopg2

        self.connection = psycopg2.connect(PG_URL)
        self.connection.autocommit = True
        self.table = "sql_leads_" + uuid.uuid4().hex[:8]
        with self.connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {self.table} (id int PRIMARY KEY, data jsonb NOT NULL)")

    def replace(self, sample):
        with self.connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.table}")
            for i, lead in enumerate(sample):
                cursor.execute(f"INSERT INTO {self.table} VALUES (%s, %s)", (i, json.dumps(lead)))

    def select(self, where):
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {self.table} WHERE {where.sql}", where.params)
            return {row[0] for row in cursor.fetchall()}

    def rows(self, statement):
        with self.connection.cursor() as cursor:
            cursor.execute(statement.text, statement.params)
            return cursor.fetchall()

    def close(self):
        with self.connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.connection.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request):
    if request.param == "sqlite":
        yield SqliteLeads()
        return
    if not PG_URL:
        if REQUIRE:
            pytest.fail("SLUICE_TEST_DATABASE_URL is required (SLUICE_REQUIRE_SERVICES=1)")
        pytest.skip("PostgreSQL not configured: set SLUICE_TEST_DATABASE_URL")
    leads_store = PostgresLeads()
    yield leads_store
    leads_store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(node=condition(3), sample=st.lists(leads(), min_size=1, max_size=10))
def test_sql_selects_exactly_what_the_predicate_selects(store, node, sample):
    text = ast.unparse(node)
    predicate = compile_condition(text, FIELDS)
    where = to_sql(parse_condition(text, FIELDS), FIELDS, store.dialect)
    store.replace(sample)
    expected = {i for i, lead in enumerate(sample) if predicate(lead)}
    found = store.select(where)
    if where.exact:
        assert found == expected, (text, where.sql)
    else:
        assert found >= expected, (text, where.sql)  # a superset, re-checked in Python


EXAMPLES = [
    ('s1 == "a"', {"s1": "a"}, True),
    ("not (n1 == 1)", {}, True),
    ("n1 != 1", {"n1": None}, False),
    ("n1 not in [1, 2]", {}, False),
    ("n1 / n2 is missing", {"n1": 1, "n2": 0}, True),
    ("n2 / 2 == 1.5", {"n2": 3}, True),  # not SQLite's integer division
    ('s1 < "b"', {"s1": "B"}, True),  # code point order, whatever the collation
    ('s1 starts_with "a%"', {"s1": "abc"}, False),  # no LIKE wildcards
    ('s1 contains ""', {"s1": "x"}, True),
    ("b1", {"b1": True}, True),
    ("not b1", {"b1": "yes"}, True),  # wrong type reads as missing in SQL
    ("d1 between 2024-01-01 and 2024-12-31", {"d1": "2024-06-30"}, True),
    ("age(d1) == 18", {"d1": "2008-02-29", "@received_at": "2026-03-01T00:00:00Z"}, True),
    ("s1 matches /^a[0-9]{2}$/", {"s1": "a12"}, True),
    ("@is_test", {"@is_test": True}, True),
]


@pytest.mark.parametrize(("text", "lead", "expected"), EXAMPLES)
def test_examples(store, text, lead, expected):
    where = to_sql(parse_condition(text, FIELDS), FIELDS, store.dialect)
    store.replace([lead])
    assert (0 in store.select(where)) is expected


def test_values_are_bound_never_interpolated(store):
    hostile = "x'); DROP TABLE leads; --"
    where = to_sql(parse_condition(f's1 == "{hostile}"', FIELDS), FIELDS, store.dialect)
    assert hostile not in where.sql and hostile in where.params
    store.replace([{"s1": hostile}])
    assert store.select(where) == {0}


def test_untranslatable_clauses_give_a_superset():
    node = parse_condition('not (lower(s1) == "a") and n1 > 1', FIELDS)
    where = to_sql(node, FIELDS, "postgresql")
    assert not where.exact and "(NOT FALSE)" in where.sql
    assert to_sql(node, FIELDS, "sqlite").exact


@pytest.mark.parametrize(
    ("pattern", "flags", "portable"),
    [
        ("^9[0-6]", "", "^9[0-6]"),
        (r"^\d{5}$", "", "^[0-9]{5}$"),
        ("^(3|9)", "", "^(3|9)"),
        ("a.c", "", None),  # PostgreSQL's . matches a newline
        (r"\w+", "", None),
        ("abc", "i", None),
    ],
)
def test_portable_regex_subset(pattern, flags, portable):
    assert portable_pattern(pattern, flags) == portable
