"""GET /api/admin/leads/export.csv: a streamed download with the list's filters."""

from __future__ import annotations

import csv
import io

import pytest

from app.store.tenants import create_user
from tests.services.exports_world import RULES, add_leads

URL = "/api/admin/leads/export.csv"


@pytest.fixture
def shop(make_world):
    world = make_world(RULES, {"sunco": "100"})
    add_leads(
        world,
        [
            {"status": "assigned", "data": {"first_name": "=cmd|' /C calc'!A0", "state": "CA"}},
            {"status": "marketplace", "data": {"first_name": "Bo", "state": "FL"}},
            {"category": "roof", "data": {"roof_type": "tile"}},
        ],
    )
    return world


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_download_is_a_streamed_csv_attachment(shop):
    response = shop.client.get(URL, headers=shop.admin)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.content_type == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="acme-leads-') and ".csv" in disposition
    header, *body = rows(response)
    assert header[:3] == ["id", "uuid", "received_at"] and header[-1] == "roof_type"
    assert [row[3] for row in body] == ["roof", "solar", "solar"]
    assert body[2][11] == "'=cmd|' /C calc'!A0"


def test_the_list_filters_apply(shop):
    client = shop.client
    assigned = rows(client.get(URL, query_string={"status": "assigned"}, headers=shop.admin))
    assert [row[5] for row in assigned[1:]] == ["assigned"]
    where = {"where": 'state == "FL"', "category": "solar"}
    found = rows(client.get(URL, query_string=where, headers=shop.admin))
    listed = client.get("/api/admin/leads", query_string=where, headers=shop.admin).json
    assert [row[0] for row in found[1:]] == [lead["id"] for lead in listed] and len(listed) == 1
    assert "roof_type" not in found[0]
    deliverable = rows(client.get(URL, query_string={"fields": "deliverable"}, headers=shop.admin))
    assert deliverable[0] == [
        *("id", "received_at", "category", "lead_type", "status", "price"),
        *("first_name", "phone"),
    ]


def test_analysts_and_admins_export_viewers_and_authors_do_not(shop):
    client = shop.client
    for role, status in [("analyst", 200), ("viewer", 403), ("rules_author", 403)]:
        _, token = create_user(shop.tenant, f"{role}@acme.example", role)
        response = client.get(URL, headers=bearer(token))
        assert response.status_code == status, role
        if status == 403:
            assert "leads.export" in response.json["message"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"where": "state\x00 == 1", "category": "solar"}, "where"),
        ({"status": "a\x00"}, "status"),
        ({"status": "sold-ish"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"test": "maybe"}, "test"),
        ({"fields": "secret"}, "fields"),
    ],
)
def test_garbage_filters_are_a_422_naming_the_field(shop, query, field):
    response = shop.client.get(URL, query_string=query, headers=shop.admin)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.json["errors"]


def test_a_bad_expression_is_a_422_with_its_diagnostics_not_a_broken_download(shop):
    client = shop.client
    wrong = {"where": "state == 3", "category": "solar"}
    response = client.get(URL, query_string=wrong, headers=shop.admin)
    assert response.status_code == 422
    assert response.json["diagnostics"][0]["code"] == "type-mismatch"
    unnamed = client.get(URL, query_string={"where": 'state == "FL"'}, headers=shop.admin)
    assert unnamed.status_code == 422 and "name the category" in unnamed.json["message"]
