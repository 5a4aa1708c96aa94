"""Importing a CSV as reverse auctions: every row validated as the intake would, the valid
ones written together, the invalid ones reported by line and field."""

from __future__ import annotations

import pytest

from app.domain.errors import ForbiddenError, InvalidError, NotFoundError
from app.services import imports
from app.services.actor import operator_actor, user_actor
from app.store.models import Auction, LeadImport
from app.store.tenants import create_user

GOOD = b"First Name,Phone,State,Zip,Kind\nKaty,555-201-0001,FL,33139,Roof\n"


@pytest.fixture
def operator(home, db):
    return operator_actor(home.tenant.code)


def run(actor, data, **options):
    options.setdefault("price", "30")
    return imports.import_leads(actor, "gamma", "home", data, **options)


def test_each_valid_row_becomes_an_open_auction_normalized_as_the_intake_would(operator):
    report = run(operator, GOOD, file_name="march.csv", fills=2, expires_in_days=3)
    assert (report.rows, report.imported, report.errors) == (1, 1, [])
    assert report.mapping == {
        "First Name": "first_name",
        "Phone": "phone",
        "State": "state",
        "Zip": "zip",
        "Kind": "kind",
    }
    assert report.criteria == ["state", "zip", "kind"]  # contact fields are not criteria
    auction = Auction.get()
    assert (
        auction.public_id.startswith("auc_") and auction.public_id == report.auctions[0].public_id
    )
    assert auction.data == {
        "first_name": "Katy",
        "phone": "+15552010001",
        "state": "FL",
        "zip": "33139",
        "kind": "Roof",
    }
    assert auction.criteria == {"state": "FL", "zip": "33139", "kind": "Roof"}
    assert (auction.status, auction.fills, auction.fills_wanted, auction.price_cents) == (
        "open",
        0,
        2,
        3000,
    )
    assert (auction.expires_at - auction.created_at).days == 3
    batch = LeadImport.get()
    assert (batch.public_id, batch.file_name, batch.rows, batch.imported) == (
        report.id,
        "march.csv",
        1,
        1,
    )
    assert batch.created_by.startswith("cli") and auction.line == 2


def test_bad_rows_are_reported_by_line_and_field_and_the_good_ones_land(operator):
    data = (
        b"first_name,phone,state,zip,kind\n"
        b"Katy,555-201-0001,FL,33139,Roof\n"  # line 2: good
        b"Al,not a phone,FL,33139,Roof\n"  # line 3: phone
        b"\n"  # line 4: empty
        b'"Bo\nB",555-201-0003,ZZ,,Roof\n'  # lines 5-6: state and zip
        b"Cy,555-201-0004,FL,33139,Boat\n"  # line 7: kind
        b"Di,555-201-0005,FL,33139,Solar,extra\n"  # line 8: too many values
        b"Ed,555-201-0006,TX,75001,Solar\n"  # line 9: good
    )
    report = run(operator, data)
    assert (report.rows, report.imported) == (6, 2)  # the empty line is no row
    assert [(e.line, e.field) for e in report.errors] == [
        (3, "phone"),
        (5, "state"),
        (5, "zip"),
        (7, "kind"),
        (8, ""),
    ]
    assert "required" in report.errors[2].message
    assert [a.line for a in Auction.select().order_by(Auction.id)] == [2, 9]
    assert LeadImport.get().errors[0] == {
        "line": 3,
        "field": "phone",
        "message": report.errors[0].message,
    }


def test_a_row_without_a_criterions_value_is_refused(operator):
    data = b"first_name,phone,state,zip,kind\nKaty,555-201-0001,FL,33139,\n"
    report = run(operator, data)
    assert report.imported == 0
    assert [(e.line, e.field) for e in report.errors] == [(2, "kind")]
    assert "matches on this field" in report.errors[0].message
    assert LeadImport.get().imported == 0  # the import is recorded with its errors


def test_a_dry_run_validates_and_writes_nothing(operator):
    report = run(operator, GOOD + b"Al,x,FL,33139,Roof\n", dry_run=True)
    assert (report.id, report.imported, len(report.errors)) == (None, 1, 1)
    assert Auction.select().count() == LeadImport.select().count() == 0


def test_the_valid_rows_land_all_together_or_not_at_all(operator, monkeypatch):
    rows = b"".join(
        f"K,555-201-{n:04d},FL,33139,Roof\n".encode() for n in range(1, 1201)
    )  # three chunks of inserts
    calls = []
    real = Auction.bulk_create

    def fail_on_the_third(models, *args, **kwargs):
        calls.append(len(models))
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(models, *args, **kwargs)

    monkeypatch.setattr(Auction, "bulk_create", fail_on_the_third)
    with pytest.raises(RuntimeError):
        run(operator, b"first_name,phone,state,zip,kind\n" + rows)
    assert calls == [500, 500, 200]
    assert Auction.select().count() == LeadImport.select().count() == 0


@pytest.mark.parametrize(
    "options, field",
    [
        ({"price": "0"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.001"}, "price"),
        ({"fills": 0}, "fills"),
        ({"expires_in_days": 400}, "expires_in"),
    ],
)
def test_wrong_options_are_refused_naming_the_option(operator, options, field):
    with pytest.raises(InvalidError) as caught:
        run(operator, GOOD, **options)
    assert field in caught.value.details
    assert Auction.select().count() == LeadImport.select().count() == 0


def test_an_unknown_category_customer_or_match_field_is_refused(operator):
    with pytest.raises(InvalidError, match="no category 'cars'"):
        imports.import_leads(operator, "gamma", "cars", GOOD, price="30")
    with pytest.raises(NotFoundError):
        imports.import_leads(operator, "nobody", "home", GOOD, price="30")
    with pytest.raises(InvalidError) as caught:
        run(operator, GOOD, match=["state", "score"])
    assert "score mapped to no column" in caught.value.message


def test_a_mapping_is_explicit_or_by_name_and_match_chooses_the_criteria(operator):
    data = b"Given,Tel,state,zip,kind,Notes\nKaty,555-201-0001,FL,33139,Roof,call after 5\n"
    report = run(
        operator,
        data,
        mapping={"Given": "first_name", "Tel": "phone", "Notes": None},
        match=["kind", "state"],
    )
    assert report.mapping == {
        "Given": "first_name",
        "Tel": "phone",
        "state": "state",
        "zip": "zip",
        "kind": "kind",
    }
    assert Auction.get().criteria == {"kind": "Roof", "state": "FL"}
    with pytest.raises(InvalidError, match="no field 'colour'"):
        run(operator, data, mapping={"Notes": "colour"})


def test_only_contact_fields_give_no_criteria_and_are_refused(operator):
    with pytest.raises(InvalidError, match="no criteria"):
        run(operator, b"first_name,phone\nKaty,555-201-0001\n")


def test_an_inactive_customer_cannot_import(operator, home):
    from app.store.customers import find_customer, set_active

    set_active(find_customer(home.tenant, "gamma"), False)
    with pytest.raises(InvalidError) as caught:
        run(operator, GOOD)
    assert "customer" in caught.value.details


def test_importing_needs_the_import_permission(home, db):
    viewer, _ = create_user(home.tenant, "viewer@example.com", "viewer")
    with pytest.raises(ForbiddenError, match="leads.import"):
        run(user_actor(viewer), GOOD)


def test_canceling_erases_the_row_and_keeps_the_auction(operator):
    auction = run(operator, GOOD).auctions[0]
    canceled = imports.cancel_auction(operator, auction.public_id)
    assert (canceled.status, canceled.data, canceled.erased_at is not None) == (
        "canceled",
        {},
        True,
    )
    assert Auction.get().criteria == {"state": "FL", "zip": "33139", "kind": "Roof"}
    again = imports.cancel_auction(operator, auction.public_id)
    assert again.erased_at == canceled.erased_at
    assert [a.status for a in imports.list_auctions(operator, status="canceled")] == ["canceled"]
    assert imports.list_auctions(operator, status="open") == []
