"""Exporting leads as CSV: columns, values, the list's filters, formulas, constant memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import timedelta

import pytest

from app.domain.csvexport import cell
from app.domain.errors import ForbiddenError, InvalidError
from app.services import exports, leads
from app.services.actor import operator_actor, user_actor
from app.services.leads import LeadFilter
from app.store.rules import RulesRefused
from app.store.tenants import create_user
from tests.services.exports_world import RULES, START, add_leads, customer

ALL = LeadFilter(test=None)


@pytest.fixture
def shop(make_world):
    """A tenant of two categories (solar, roof) and the customer sunco."""
    return make_world(RULES, {"sunco": "100"})


def actor(world):
    return operator_actor(world.tenant.code)


def exported(world, filters=ALL, **options) -> list[list[str]]:
    """Return the export's CSV, parsed: the header, then the rows."""
    text = "".join(exports.export_leads(actor(world), filters, **options).csv())
    return list(csv.reader(io.StringIO(text, newline="")))


def test_every_column_and_field_in_the_rules_order_plainly_written(shop):
    sunco = customer(shop, "sunco")
    sold, roof = add_leads(
        shop,
        [
            {
                "status": "assigned",
                "lead_type": None,
                "price_cents": 4550,
                "customer": sunco.id,
                "data": {
                    "first_name": "Katy",
                    "phone": "+15551234567",
                    "monthly_bill": 180.5,
                    "homeowner": True,
                    "dob": "1980-02-03",
                },
            },
            {"category": "roof", "is_test": True, "data": {"roof_type": "tile", "extra": "x"}},
        ],
    )
    header, *rows = exported(shop)
    assert header == [
        *("id", "uuid", "received_at", "category", "lead_type", "status", "price"),
        *("customer", "source", "is_test", "deleted"),
        # solar's fields, then roof's not seen yet: the union in the categories' order
        *("first_name", "phone", "state", "monthly_bill", "homeowner", "dob", "roof_type"),
    ]
    assert rows == [  # newest first, as the list
        [roof.public_id, str(roof.uuid), "2026-11-02T10:01:00Z", "roof", "", "marketplace"]
        + ["0.00", "", shop.source.public_id, "true", "false", "", "", "", "", "", "", "tile"],
        [sold.public_id, str(sold.uuid), "2026-11-02T10:00:00Z", "solar", "", "assigned"]
        + ["45.50", sunco.public_id, shop.source.public_id, "false", "false"]
        + ["Katy", "+15551234567", "", "180.5", "true", "1980-02-03", ""],
    ]


def test_deliverable_mode_has_the_public_facts_and_deliverable_fields_only(shop):
    sunco = customer(shop, "sunco")
    (lead,) = add_leads(
        shop,
        [
            {
                "status": "assigned",
                "lead_type": None,
                "price_cents": 2000,
                "customer": sunco.id,
                "data": {"first_name": "Katy", "phone": "+15551234567", "state": "FL"},
            }
        ],
    )
    header, row = exported(shop, fields="deliverable")
    assert header == [
        *("id", "received_at", "category", "lead_type", "status", "price"),
        *("first_name", "phone"),
    ]
    assert row == [lead.public_id, "2026-11-02T10:00:00Z", "solar", "", "assigned", "20.00"] + [
        "Katy",
        "+15551234567",
    ]
    assert "FL" not in row and sunco.public_id not in row and str(lead.uuid) not in row
    roof_only = exported(shop, LeadFilter(category="roof"), fields="deliverable")
    assert roof_only == [[*exports.DELIVERABLE_COLUMNS, "phone"]]
    with pytest.raises(InvalidError, match="fields"):
        exports.export_leads(actor(shop), ALL, fields="secret")


def test_the_export_holds_exactly_the_leads_the_list_shows(shop):
    other, _ = create_and_source(shop)
    add_leads(
        shop,
        [
            {"status": s, "category": c, "is_test": t, "source": src, "data": {"state": st}}
            for s, c, t, src, st in [
                ("assigned", "solar", False, shop.source.id, "FL"),
                ("marketplace", "solar", False, other, "CA"),
                ("assigned", "roof", False, shop.source.id, None),
                ("audit", "solar", True, shop.source.id, "CA"),
                ("assigned", "solar", False, other, "TX"),
            ]
        ],
    )
    cases = [
        LeadFilter(),
        ALL,
        LeadFilter(test=True),
        LeadFilter(status="assigned", test=None),
        LeadFilter(category="roof"),
        LeadFilter(source=shop.source.public_id),
        LeadFilter(since=START + timedelta(minutes=1), until=START + timedelta(minutes=4)),
    ]
    operator = actor(shop)
    for filters in cases:
        listed = [lead.public_id for lead in leads.list_leads(operator, filters, limit=100)]
        assert [row[0] for row in exported(shop, filters)[1:]] == listed, filters
    solar = LeadFilter(category="solar", test=None)
    found = leads.list_leads(operator, solar, where='state == "CA"', limit=100)
    where = exported(shop, solar, where='state == "CA"')
    assert [row[0] for row in where[1:]] == [lead.public_id for lead in found]
    assert len(found) == 2
    assert "roof_type" not in where[0]  # the expression's category: solar's fields only


def create_and_source(world):
    """Return (id, public id) of a second source of the world's tenant."""
    from app.store.sources import create_source

    source, _ = create_source(world.tenant, "Partner", "solar", False)
    return source.id, source.public_id


@pytest.mark.parametrize("where", [None, 'state == "FL"', 'lower(first_name) != "x"'])
def test_pages_by_keyset_skip_and_repeat_nothing_when_times_tie(shop, where):
    same = [{"received_at": START, "data": {"state": "FL", "first_name": "A"}}] * 10
    later = [{"received_at": START + timedelta(seconds=1), "data": {"state": "FL"}}] * 3
    add_leads(shop, [dict(row) for row in same + later])
    filters = LeadFilter(category="solar") if where else ALL
    whole = exports.export_leads(actor(shop), filters, where=where)
    paged = exports.export_leads(actor(shop), filters, where=where, chunk=3)
    ids = [row[0] for row in paged.rows]
    assert ids == [row[0] for row in whole.rows]
    expected = 13 if where != 'lower(first_name) != "x"' else 10  # a missing name: no match
    assert len(ids) == len(set(ids)) == expected


def test_a_spreadsheet_formula_in_a_field_is_quoted(shop):
    names = ['=HYPERLINK("http://x")', "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\r=1", "-12.5"]
    add_leads(shop, [{"data": {"first_name": name}} for name in names])
    rows = exported(shop)[1:]
    written = [row[11] for row in reversed(rows)]
    assert written == ["'" + name for name in names[:-1]] + ["-12.5"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (12.5, "12.5"),
        ("+15551234567", "+15551234567"),  # a phone number in E.164: a number, no formula
        ("-3", "-3"),
        ("-3-3", "'-3-3"),
        ("=1", "'=1"),
        ("a=1", "a=1"),
        ("", ""),
        (START, "2026-11-02T10:00:00Z"),
        (START.date(), "2026-11-02"),
        (["x", "y"], '["x", "y"]'),
    ],
)
def test_cells_are_plain(value, text):
    assert cell(value) == text


def test_a_million_leads_would_export_in_constant_memory(shop):
    count = 20_000
    add_leads(shop, [{"data": {"first_name": f"Name {n}", "state": "FL"}} for n in range(count)])
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        rows = size = 0
        for text in exports.export_leads(actor(shop), ALL).csv():
            rows += text.count("\n")
            size += len(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == count + 1 and size > 1_000_000
    # Read at once, these 20,000 leads take some 63 MB at the peak; read 500 at a time,
    # about 5.5 MB, whatever the number of leads.
    assert peak - base < 12_000_000, f"the peak grew by {(peak - base) / 1e6:.1f} MB"


def test_export_needs_its_permission_and_explain_for_an_expression(shop):
    analyst, _ = create_user(shop.tenant, "analyst@acme.example", "analyst")
    viewer, _ = create_user(shop.tenant, "viewer@acme.example", "viewer")
    author, _ = create_user(shop.tenant, "author@acme.example", "rules_author")
    solar = LeadFilter(category="solar")
    assert exports.export_leads(user_actor(analyst), solar, where='state == "FL"').columns
    for user in (viewer, author):
        with pytest.raises(ForbiddenError, match="leads.export"):
            exports.export_leads(user_actor(user), ALL)


@pytest.mark.parametrize(
    ("where", "category", "message"),
    [
        ("state ==", "solar", "the expression has errors"),
        ("state\x00 == 1", "solar", "the expression has errors"),
        ("nope == 1", "solar", "the expression has errors"),
        ('state == "FL"', None, "name the category"),
        ('state == "FL"', "garage", "no category"),
    ],
)
def test_a_bad_expression_is_refused_before_any_row(shop, where, category, message):
    with pytest.raises(InvalidError, match=message) as refused:
        exports.export_leads(actor(shop), LeadFilter(category=category), where=where)
    if message == "the expression has errors":
        assert isinstance(refused.value, RulesRefused) and refused.value.details
