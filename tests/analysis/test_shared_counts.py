"""Counts and masks over stored leads: each condition counts what its predicate selects.

On PostgreSQL `Window.count` (over the leads, not a projection: test_projection.py) and
`Window.stream` translate their conditions again over values read once per row
(`leadsql.Shared`); on SQLite they use the plain clauses. Leads
are stored through the models in two categories, metadata columns included, so the
per-category tests and the metadata read per row are exercised too.
"""

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.analysis import leadsql
from app.dsl import ast, compile_condition, parse_condition
from app.dsl.sql import SqlWhere
from app.pipeline.lead import build_lead
from app.store.listing import LeadFilter
from app.store.models import Lead
from app.store.secrets import public_id
from app.store.sources import create_source
from app.store.tenants import create_tenant
from tests.analysis.test_find_sql import expressions
from tests.dsl.strategies import FIELDS, leads

CATEGORIES = ("c1", "c2")
stored = st.tuples(
    leads(),
    st.sampled_from(CATEGORIES),
    st.sampled_from(["web", "tv"]),
    st.integers(0, 3 * 86400 * 365).map(lambda s: datetime(2025, 6, 30, 12) + timedelta(seconds=s)),
)


@pytest.fixture
def tenant(db):
    tenant, _, _ = create_tenant("Counters")
    sources = {name: create_source(tenant, name, "c1")[0] for name in ("web", "tv")}
    yield tenant, sources
    db.close()


def _store(tenant, sources, sample):
    """Store the sample; return the leads as the rules see them, by lead id."""
    Lead.delete().execute()
    return add_leads(tenant, sources, sample, {})


def add_leads(tenant, sources, sample, seen: dict) -> dict:
    """Store more leads; add them to `seen` (lead id -> the lead as the rules see it)."""
    for data, category, source, at in sample:
        data = {k: v for k, v in data.items() if not k.startswith("@")}
        row = Lead.create(
            public_id=public_id("lead"),
            tenant=tenant,
            source=sources[source],
            category=category,
            data=data,
            received_at=at,
        )
        seen[row.id] = build_lead(
            data, category=category, source=source, partner=None, received_at=at, is_test=False
        )
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    nodes=st.lists(st.tuples(expressions, st.sampled_from(CATEGORIES)), min_size=1, max_size=5),
    sample=st.lists(stored, min_size=1, max_size=8),
)
def test_counts_and_masks_match_the_predicates(tenant, nodes, sample):
    tenant, sources = tenant
    seen = _store(tenant, sources, sample)
    name = leadsql.dialect()
    conditions = [(c, leadsql.where_sql(node, FIELDS, name)) for node, c in nodes]
    expected = []
    for node, category in nodes:
        predicate = compile_condition(ast.unparse(node), FIELDS)
        expected.append(
            {i for i, lead in seen.items() if lead["@category"] == category and predicate(lead)}
        )
    exact = [where.exact for _, where in conditions]
    window = leadsql.Window(tenant.id, LeadFilter(test=None))
    total, counts = window.count(conditions, projection=False)  # test_projection.py: with
    assert total == len(seen)
    bits: dict[int, int] = {}
    for rows in window.stream(masks=conditions):
        for row in rows:
            bits[row[0]] = row[len(leadsql.STREAM_COLUMNS)]
    for i, (want, ok) in enumerate(zip(expected, exact, strict=True)):
        got = {lead_id for lead_id, mask in bits.items() if mask >> i & 1}
        if ok:
            assert counts[i] == len(want) and got == want, ast.unparse(nodes[i][0])
        else:  # a superset, which callers re-check in Python
            assert counts[i] >= len(want) and got >= want, ast.unparse(nodes[i][0])


def test_a_clause_written_by_hand_is_counted_beside_the_shared_values(tenant):
    tenant, sources = tenant
    at = datetime(2026, 1, 2)
    sample = [
        ({"n1": 2, "s1": "a"}, "c1", "web", at),
        ({"n1": 5}, "c1", "tv", at),
        ({"n1": 7}, "c2", "web", at),
    ]
    _store(tenant, sources, sample)
    name = leadsql.dialect()
    where = leadsql.where_sql(parse_condition("n1 > 3", FIELDS), FIELDS, name)
    by_hand = SqlWhere(
        "l.source_id = " + ("%s" if name == "postgresql" else "?"), (sources["tv"].id,), True
    )
    window = leadsql.Window(tenant.id, LeadFilter()).with_categories(["c1"])
    for projection in (False, True):
        counted = window.count(
            [("c1", where), ("c1", by_hand), ("c2", where)], projection=projection
        )
        assert counted == (2, [1, 1, 0])


def test_streams_give_their_connection_back(tenant):
    from app.store.db import POOL_SIZE

    tenant, sources = tenant
    _store(tenant, sources, [({"n1": 5}, "c1", "web", datetime(2026, 1, 2))])
    where = leadsql.where_sql(parse_condition("n1 > 3", FIELDS), FIELDS, leadsql.dialect())
    window = leadsql.Window(tenant.id, LeadFilter())
    for _ in range(POOL_SIZE + 2):  # a stream takes a connection of its own from the pool
        assert [len(rows) for rows in window.stream(masks=[("c1", where)])] == [1]
