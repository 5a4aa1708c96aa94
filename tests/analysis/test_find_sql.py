"""Rules to SQL over the real store: `leads find` selects exactly what the predicate selects.

Leads are stored through the models (data as JSON/JSONB; source name, partner, received_at,
is_test and category as columns), on SQLite and, in CI, PostgreSQL. Expressions are random,
metadata included; leads have missing and null fields.
"""

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.analysis.find import select_leads
from app.dsl import ast, compile_condition, parse_condition
from app.pipeline.lead import build_lead
from app.store.listing import LeadFilter
from app.store.models import Lead
from app.store.secrets import public_id
from app.store.sources import create_source
from app.store.tenants import create_tenant
from tests.dsl.strategies import FIELDS, condition, datetimes, leads

SOURCES = ("web", "tv")
moments = st.builds(
    lambda seconds, micro: (
        datetime(2025, 6, 30, 23, 59, 58) + timedelta(seconds=seconds, microseconds=micro)
    ),
    st.integers(0, 3 * 86400 * 365),
    st.sampled_from([0, 1, 999_999]),
)
metadata = st.fixed_dictionaries(
    {
        "source": st.sampled_from(SOURCES),
        "partner": st.sampled_from([None, "acme", "", "Acme"]),
        "received_at": moments,
        "is_test": st.booleans(),
    }
)
meta_conditions = st.one_of(
    st.builds(
        ast.Compare,
        st.sampled_from(["==", "!=", "<", ">="]),
        st.just(ast.MetaRef("source")),
        st.sampled_from(["web", "tv", "x"]).map(lambda v: ast.Literal(v, "string")),
    ),
    st.builds(
        ast.Compare,
        st.sampled_from(["==", "!="]),
        st.just(ast.MetaRef("partner")),
        st.sampled_from(["acme", ""]).map(lambda v: ast.Literal(v, "string")),
    ),
    st.builds(ast.IsMissing, st.just(ast.MetaRef("partner")), st.booleans()),
    st.builds(
        ast.Compare,
        st.sampled_from(["<", "<=", ">", "==", "!="]),
        st.just(ast.MetaRef("received_at")),
        datetimes.map(lambda v: ast.Literal(v, "datetime")),
    ),
    st.builds(
        ast.Compare,
        st.sampled_from(["==", "!="]),
        st.just(ast.MetaRef("category")),
        st.sampled_from(["c1", "c2"]).map(lambda v: ast.Literal(v, "string")),
    ),
    st.just(ast.MetaRef("is_test")),
)
expressions = st.one_of(
    condition(2),
    meta_conditions,
    st.lists(st.one_of(condition(1), meta_conditions), min_size=2, max_size=3).map(
        lambda items: ast.And(tuple(items))
    ),
    st.lists(st.one_of(condition(1), meta_conditions), min_size=2, max_size=3).map(
        lambda items: ast.Or(tuple(items))
    ),
    meta_conditions.map(ast.Not),
)


@pytest.fixture
def store(db):
    """A tenant with two sources; returns (tenant, {name: source})."""
    tenant, _, _ = create_tenant("Finders")
    sources = {name: create_source(tenant, name, "c1")[0] for name in SOURCES}
    yield tenant, sources
    db.close()


def _without_meta(lead: dict) -> dict:
    return {k: v for k, v in lead.items() if not k.startswith("@")}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(node=expressions, sample=st.lists(st.tuples(leads(), metadata), min_size=1, max_size=8))
def test_find_selects_exactly_what_the_predicate_selects(store, node, sample):
    tenant, sources = store
    Lead.delete().execute()
    expected = set()
    text = ast.unparse(node)
    predicate = compile_condition(text, FIELDS)
    for data, meta in sample:
        row = Lead.create(
            public_id=public_id("lead"),
            tenant=tenant,
            source=sources[meta["source"]],
            category="c1",
            data=_without_meta(data),
            partner_id=meta["partner"],
            is_test=meta["is_test"],
            received_at=meta["received_at"],
        )
        lead = build_lead(
            _without_meta(data),
            category="c1",
            source=meta["source"],
            partner=meta["partner"],
            received_at=meta["received_at"],
            is_test=meta["is_test"],
        )
        if predicate(lead):
            expected.add(row.id)
    found, _ = select_leads(
        tenant.id,
        parse_condition(text, FIELDS),
        predicate,
        FIELDS,
        LeadFilter(category="c1", test=None),
        limit=100,
    )
    assert {lead.id for lead in found} == expected, text


def test_received_at_is_compared_as_canonical_text(store):
    tenant, sources = store
    at = datetime(2026, 1, 2, 3, 4, 5, 999_999)  # the fraction is not part of @received_at
    Lead.create(
        public_id=public_id("lead"),
        tenant=tenant,
        source=sources["web"],
        category="c1",
        data={},
        received_at=at,
    )
    for text, hit in [
        ("@received_at == 2026-01-02T03:04:05Z", True),
        ("@received_at > 2026-01-02T03:04:05Z", False),
        ('@source == "web" and @partner is missing', True),
    ]:
        found, exact = select_leads(
            tenant.id,
            parse_condition(text, FIELDS),
            compile_condition(text, FIELDS),
            FIELDS,
            LeadFilter(category="c1"),
            limit=10,
        )
        assert exact and bool(found) is hit, text
