"""`sluice leads import` and `sluice auction list|cancel`: the mapping shown and asked for,
the report printed, the errors written as CSV."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.store.models import Auction, LeadImport
from tests.commands.conftest import Sluice

CSV = (
    "First Name,Phone,State,Zip,Kind,Notes\n"
    "Katy,555-201-0001,FL,33139,Solar,call after 5\n"
    "Al,nope,FL,33139,Roof,\n"
)


@pytest.fixture
def sluice(home, database_url, monkeypatch, secret_key) -> Sluice:
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    return Sluice()


@pytest.fixture
def wants(tmp_path):
    path = tmp_path / "wants.csv"
    path.write_text(CSV)
    return path


def run(sluice, home, *args, answers=None):
    result = sluice.runner.invoke(
        main,
        ["leads", "import", home.tenant.code, "gamma", "home", *map(str, args)],
        input=answers,
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def test_import_shows_the_mapping_asks_for_unmapped_columns_and_reports_by_line(
    sluice, home, wants, tmp_path, db
):
    errors = tmp_path / "errors.csv"
    code, output = run(sluice, home, wants, "--price", "30", "--errors", errors, answers="\n")
    assert code == 1, output  # a row was refused
    assert "First Name  first_name" in output
    assert "Field for column 'Notes'" in output
    assert "imported 1 of 2 rows" in output and "criteria: state, zip, kind" in output
    assert "3,phone," in output
    assert errors.read_text().splitlines()[0] == "line,field,message"
    assert errors.read_text().splitlines()[1].startswith("3,phone,")
    assert Auction.select().count() == 1 and LeadImport.get().file_name == "wants.csv"


def test_an_answer_maps_the_column_and_an_unknown_field_is_refused(sluice, home, wants, db):
    code, output = run(sluice, home, wants, "--price", "30", "--dry-run", answers="colour\n")
    assert code == 1 and "no field 'colour'" in output
    code, output = run(sluice, home, wants, "--price", "30", "--dry-run", answers="kind\n")
    assert code == 1 and "2,kind," in output  # the answer wins over Kind: notes are no kind


def test_yes_and_json_skip_the_questions_and_dry_run_writes_nothing(sluice, home, wants, db):
    code, output = run(sluice, home, wants, "--price", "30", "--dry-run", "--yes", "--json")
    body = json.loads(output)
    assert (code, body["id"], body["imported"], body["unmapped"]) == (1, None, 1, ["Notes"])
    assert body["errors"][0]["line"] == 3
    assert Auction.select().count() == 0


def test_map_and_mapping_file_and_match(sluice, home, wants, tmp_path, db):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"Notes": None, "Phone": "phone"}))
    code, output = run(
        sluice,
        home,
        wants,
        "--price",
        "25.50",
        "--mapping",
        mapping,
        "--map",
        "Kind=kind",
        "--match",
        "kind,state",
        "--fills",
        "3",
        "--json",
    )
    body = json.loads(output)
    assert body["criteria"] == ["kind", "state"]
    auction = Auction.get()
    assert (auction.criteria, auction.fills_wanted, auction.price_cents) == (
        {"kind": "Solar", "state": "FL"},
        3,
        2550,
    )
    code, output = run(sluice, home, wants, "--price", "30", "--map", "Kind")
    assert code == 1 and "COLUMN=FIELD" in output


def test_a_wrong_file_is_a_clear_error(sluice, home, tmp_path, db):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("zip\nJos\u00e9\n".encode("latin-1"))
    code, output = run(sluice, home, latin, "--price", "30", "--yes")
    assert code == 1 and "not UTF-8" in output
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("zip;state\n33139;FL\n")
    code, output = run(sluice, home, semicolons, "--price", "30", "--yes")
    assert code == 1 and "separated by ';'" in output


def test_auction_list_and_cancel(sluice, home, wants, db):
    run(sluice, home, wants, "--price", "30", "--yes")
    listed = sluice.json("auction", "list", home.tenant.code, "--status", "open")
    assert [(a["status"], a["price"]) for a in listed] == [("open", 30)]
    canceled = sluice.json("auction", "cancel", home.tenant.code, listed[0]["id"])
    assert (canceled["status"], canceled["data"]) == ("canceled", {})
    code, output = sluice("auctions", "list", home.tenant.code)
    assert code == 0 and "canceled" in output
    code, output = sluice("leads", "imports", home.tenant.code)
    assert code == 0 and "wants.csv" in output
