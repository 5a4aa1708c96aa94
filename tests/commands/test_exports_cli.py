"""`sluice leads export TENANT [filters]`: CSV to stdout or a file."""

from __future__ import annotations

import csv
import io

from tests.services.exports_world import RULES, add_leads


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_writes_csv_to_stdout_or_a_file(make_world, sluice, tmp_path):
    world = make_world(RULES, {"sunco": "100"}, name="Shop")
    add_leads(
        world,
        [
            {"status": "assigned", "data": {"first_name": "@SUM(1)", "state": "CA"}},
            {"data": {"first_name": "Bo", "state": "FL"}},
        ],
    )
    code, out = sluice("leads", "export", world.tenant.code)
    assert code == 0, out
    header, *rows = parsed(out)
    assert header[0] == "id" and len(rows) == 2 and rows[1][11] == "'@SUM(1)"
    code, out = sluice("leads", "export", world.tenant.code, "--status", "assigned")
    assert [row[5] for row in parsed(out)[1:]] == ["assigned"]
    path = tmp_path / "fl.csv"
    where = ["--category", "solar", "--where", 'state == "FL"', "--fields", "deliverable"]
    code, out = sluice("leads", "export", world.tenant.code, *where, "-o", str(path))
    assert code == 0 and f"wrote {path}" in out
    header, *rows = parsed(path.read_text(encoding="utf-8"))
    assert header[-2:] == ["first_name", "phone"] and [row[6] for row in rows] == ["Bo"]


def test_a_bad_filter_is_an_error_and_no_file(make_world, sluice, tmp_path):
    world = make_world(RULES, {"sunco": "100"}, name="Shop")
    path = tmp_path / "none.csv"
    bad = ["--category", "solar", "--where", "state == 3", "-o", str(path)]
    code, out = sluice("leads", "export", world.tenant.code, *bad)
    assert code == 1 and "type-mismatch" in out and not path.exists()
    code, out = sluice("leads", "export", world.tenant.code, "--since", "yesterday")
    assert code != 0 and "yesterday" in out
    code, out = sluice("leads", "export", world.tenant.code, "--where", 'state == "FL"')
    assert code != 0 and "name the category" in out
