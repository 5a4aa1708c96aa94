"""Reverse auctions over HTTP: the admin imports a CSV, sources list the open auctions and
fill them; a fill is sold once, at the auction's price, or kept and routed by the plan."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.store.models import Auction, Customer, Delivery, Lead, Post, WalletEntry
from tests.conftest import basic_auth
from tests.delivery_rows import destination_row
from tests.http import send_together

HEADER = "first_name,phone,state,zip,kind\n"


def upload(world, rows: str, **form):
    """POST an import of these rows (after the header) for gamma in `home`."""
    form = {"customer": "gamma", "category": "home", "price": "30", **form}
    form["file"] = (io.BytesIO((HEADER + rows).encode()), "wants.csv")
    return world.client.post(
        "/api/admin/imports", data=form, headers=world.admin, content_type="multipart/form-data"
    )


def want(world, rows="Katy,555-201-0001,FL,33139,Solar\n", **form) -> str:
    """Import rows; return the first auction's id."""
    response = upload(world, rows, **form)
    assert response.status_code == 201, response.json
    return response.json["auctions"][0]["id"]


def fill(world, auction: str, lead: dict, headers=None):
    return world.client.post(
        f"/api/auctions/{auction}/leads", json=lead, headers={**world.auth, **(headers or {})}
    )


def balance(slug: str) -> int:
    return Customer.get(Customer.slug == slug).balance_cents


def test_an_import_answers_its_report(home):
    response = upload(home, "Katy,555-201-0001,FL,33139,Solar\nAl,bad,FL,33139,Solar\n")
    assert response.status_code == 201
    body = response.json
    assert (body["rows"], body["imported"], body["criteria"]) == (2, 1, ["state", "zip", "kind"])
    assert body["errors"] == [
        {"line": 3, "field": "phone", "message": body["errors"][0]["message"]}
    ]
    auction = body["auctions"][0]
    assert auction["id"].startswith("auc_") and auction["import"] == body["id"]
    assert (auction["status"], auction["price"], auction["fills_left"]) == ("open", 30, 1)
    assert auction["data"]["phone"] == "+15552010001"
    listed = home.client.get("/api/admin/imports", headers=home.admin).json
    assert [(i["id"], i["file_name"], i["rows"], i["imported"]) for i in listed] == [
        (body["id"], "wants.csv", 2, 1)
    ]
    shown = home.client.get(f"/api/admin/imports/{body['id']}", headers=home.admin).json
    assert shown["errors"] == body["errors"] and shown["created_by"] == "admin@acme.invalid"


def test_a_dry_run_answers_200_and_writes_nothing(home):
    response = upload(home, "Katy,555-201-0001,FL,33139,Solar\n", dry_run="true")
    assert response.status_code == 200
    assert (response.json["id"], response.json["imported"]) == (None, 1)
    assert Auction.select().count() == 0


@pytest.mark.parametrize(
    "form, field",
    [
        ({"price": ""}, "price"),
        ({"fills": "two"}, "fills"),
        ({"mapping": "{not json"}, "mapping"),
        ({"mapping": '["zip"]'}, "mapping"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"customer": "nobody"}, None),
        ({"customer": "gam\x00ma"}, "customer"),
        ({"match": "state,\x00"}, "match"),
    ],
)
def test_a_wrong_import_form_is_refused_and_writes_nothing(home, form, field):
    response = upload(home, "Katy,555-201-0001,FL,33139,Solar\n", **form)
    assert response.status_code == (404 if field is None else 422), response.json
    if field is not None:
        assert field in response.json["errors"]
    assert Auction.select().count() == 0


def test_an_unreadable_file_is_a_clean_422(home):
    form = {"customer": "gamma", "category": "home", "price": "30"}
    form["file"] = (io.BytesIO("zip\nJos\u00e9\n".encode("latin-1")), "latin.csv")
    response = home.client.post(
        "/api/admin/imports", data=form, headers=home.admin, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "not UTF-8" in response.json["errors"]["file"][0]


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"zip,kind\n33139,\x00Solar\n", "NUL"),
        (b"zip,kind\n33139," + b"x" * 200_000 + b"\n", "not valid CSV"),
        (b'zip,kind\n33139,"Solar\n', "not valid CSV"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"", "empty"),
        (b"zip,zip\n1,2\n", "both named 'zip'"),
    ],
    ids=["nul", "huge-cell", "unclosed-quote", "binary", "empty", "duplicate-header"],
)
def test_a_hostile_file_is_a_clean_422_and_writes_nothing(home, data, expected):
    form = {"customer": "gamma", "category": "home", "price": "30"}
    form["file"] = (io.BytesIO(data), "hostile.csv")
    response = home.client.post(
        "/api/admin/imports", data=form, headers=home.admin, content_type="multipart/form-data"
    )
    assert response.status_code == 422, response.json
    assert expected in response.json["message"]
    assert Auction.select().count() == 0


def test_a_hostile_file_name_is_kept_repaired(home):
    form = {"customer": "gamma", "category": "home", "price": "30"}
    data = (HEADER + "Katy,555-201-0001,FL,33139,Solar\n").encode()
    form["file"] = (io.BytesIO(data), "a\x00b" + "c" * 400 + ".csv")
    response = home.client.post(
        "/api/admin/imports", data=form, headers=home.admin, content_type="multipart/form-data"
    )
    assert response.status_code == 201, response.json
    assert response.json["file_name"].startswith("a\ufffdbccc")
    assert len(response.json["file_name"]) == 255


def test_a_file_over_the_limit_is_a_clean_413(home, monkeypatch):
    from app.api.admin import imports

    monkeypatch.setattr(imports, "MAX_BYTES", 100)
    response = upload(home, "Katy,555-201-0001,FL,33139,Solar\n" * 5)
    assert response.status_code == 413
    assert Auction.select().count() == 0


def test_a_file_larger_than_an_intake_body_is_taken(home, app):
    rows = "".join(
        f"K,555-3{n // 10000:02d}-{n % 10000:04d},FL,33139,Solar\n" for n in range(40_000)
    )
    assert len(rows) > app.config["MAX_BODY_BYTES"]
    fields = {"customer": "gamma", "category": "home", "price": "30", "dry_run": "1"}
    parts = [
        f'--b0undary\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        '--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n" + HEADER + rows + "\r\n--b0undary--\r\n"
    )
    response = home.client.post(
        "/api/admin/imports",
        data="".join(parts).encode(),
        headers=home.admin,
        content_type="multipart/form-data; boundary=b0undary",
    )
    assert response.status_code == 200, response.json
    assert response.json["imported"] == 40_000


def test_sources_see_open_auctions_criteria_never_the_contact_fields(home):
    first = want(home)
    closed = want(home, "Al,555-201-0002,FL,33139,Roof\n")
    home.client.delete(f"/api/admin/auctions/{closed}", headers=home.admin)
    response = home.client.get("/api/auctions", headers=home.auth)
    assert response.status_code == 200
    assert response.json == [
        {
            "id": first,
            "category": "home",
            "criteria": {"state": "FL", "zip": "33139", "kind": "Solar"},
            "price": 30,
            "fills_wanted": 1,
            "fills_left": 1,
            "expires_at": response.json[0]["expires_at"],
        }
    ]
    assert "Katy" not in response.get_data(as_text=True)
    assert home.client.get("/api/auctions").status_code == 401


def test_a_matching_lead_is_sold_to_the_auctions_customer_at_its_price(home, home_lead, db):
    gamma = Customer.get(Customer.slug == "gamma")
    destination_row(home.tenant, gamma)
    destination_row(home.tenant)  # a webhook of lead.sold
    auction = want(home)
    response = fill(home, auction, home_lead(7, kind="Solar"))  # the plan sells to alpha
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["status"], body["price"]) == ("assigned", 30)
    assert body["auction"] == {"id": auction, "filled": True, "fills_left": 0}
    lead = Lead.get(Lead.public_id == body["lead_public_id"])
    assert (lead.customer_id, lead.price_cents, lead.bid_id) == (
        gamma.id,
        3000,
        f"auction:{auction}",
    )
    assert balance("gamma") == 7000 and balance("alpha") == 10000
    charge = WalletEntry.get(WalletEntry.lead == lead.id)
    assert (charge.customer_id, charge.amount_cents) == (gamma.id, -3000)
    events = sorted(d.event for d in Delivery.select().where(Delivery.lead == lead.id))
    assert events == ["lead.sold", "lead.sold"]  # the customer's destination and the webhook
    stored = Auction.get(Auction.public_id == auction)
    assert (stored.status, stored.fills) == ("filled", 1)
    assert Post.get_by_id(lead.post_id).status_code == 201
    assert "auction_filled" in {e.kind for e in lead.events}


def test_a_lead_not_matching_names_the_criterion_and_is_routed_by_the_plan(home, home_lead):
    auction = want(home)
    response = fill(home, auction, home_lead(8, kind="Roof"))
    assert response.status_code == 422
    body = response.json
    assert (body["error"], body["reason"], body["criterion"]) == (
        "auction_not_filled",
        "mismatch",
        "kind",
    )
    assert "kind: the lead has 'Roof', the auction wants 'Solar'" in body["message"]
    assert body["status"] == "assigned" and body["price"] == 40  # alpha's or beta's roof bid
    assert body["auction"]["filled"] is False
    assert Auction.get(Auction.public_id == auction).fills == 0
    assert balance("gamma") == 10000
    assert Post.get(Post.request_id == response.headers["X-Request-Id"]).accepted


def test_an_invalid_lead_is_refused_as_the_intake_refuses_it(home, home_lead):
    auction = want(home)
    response = fill(home, auction, home_lead(9, phone="nope"))
    assert response.status_code == 422
    assert response.json["error"] == "validation_failed" and "phone" in response.json["errors"]
    post = Post.get(Post.request_id == response.headers["X-Request-Id"])
    assert (post.accepted, post.status_code) == (False, 422)


def test_a_filled_or_expired_auction_answers_409_and_keeps_the_lead(home, home_lead):
    auction = want(home)
    assert fill(home, auction, home_lead(10, kind="Solar")).status_code == 201
    late = fill(home, auction, home_lead(11, kind="Solar"))
    assert late.status_code == 409
    assert (late.json["reason"], late.json["auction_status"]) == ("closed", "filled")
    assert Lead.get(Lead.public_id == late.json["lead_public_id"]).status == "assigned"
    lapsed = want(home, "Bo,555-201-0003,FL,33139,Solar\n")
    Auction.update(expires_at=utcnow() - timedelta(seconds=1)).where(
        Auction.public_id == lapsed
    ).execute()
    response = fill(home, lapsed, home_lead(12, kind="Solar"))
    assert response.status_code == 409 and response.json["auction_status"] == "expired"
    assert Auction.get(Auction.public_id == lapsed).status == "expired"
    assert balance("gamma") == 7000  # the one fill


def test_a_customer_who_cannot_pay_leaves_the_auction_open(home, home_lead):
    auction = want(home, price="150")  # gamma has 100
    response = fill(home, auction, home_lead(13, kind="Solar"))
    assert response.status_code == 409
    assert response.json["reason"] == "unpaid"
    assert response.json["status"] == "assigned"  # the plan sold it to alpha's solar bid
    stored = Auction.get(Auction.public_id == auction)
    assert (stored.status, stored.fills) == ("open", 0)
    assert balance("gamma") == 10000 and balance("alpha") == 7500


def test_a_duplicate_lead_does_not_fill_twice(home, home_lead):
    auction = want(home, fills="2")
    assert fill(home, auction, home_lead(14, kind="Solar")).status_code == 201
    again = fill(home, auction, home_lead(14, kind="Solar"))
    assert again.status_code == 422
    assert (again.json["reason"], again.json["lead_status"]) == ("ineligible", "duplicate")
    assert Auction.get(Auction.public_id == auction).fills == 1


def test_an_idempotency_key_replays_the_fill(home, home_lead):
    auction = want(home, fills="2")
    key = {"Idempotency-Key": "fill-1"}
    first = fill(home, auction, home_lead(15, kind="Solar"), key)
    second = fill(home, auction, home_lead(15, kind="Solar"), key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json == second.json
    assert Auction.get(Auction.public_id == auction).fills == 1


def test_another_categorys_or_tenants_auction_is_not_found(home, make_world, home_lead):
    auction = want(home)
    other = make_world(name="Other")  # the solar example: another tenant and category
    response = fill(other, auction, home_lead(16, kind="Solar"))
    assert response.status_code == 404
    assert fill(home, "auc_nope", home_lead(17, kind="Solar")).status_code == 404
    assert other.client.get("/api/auctions", headers=other.auth).json == []


def test_a_canceled_auction_takes_no_lead_and_is_listed_so(home, home_lead):
    auction = want(home)
    canceled = home.client.delete(f"/api/admin/auctions/{auction}", headers=home.admin)
    assert canceled.status_code == 200
    assert (canceled.json["status"], canceled.json["data"]) == ("canceled", {})
    response = fill(home, auction, home_lead(18, kind="Solar"))
    assert response.status_code == 409 and response.json["auction_status"] == "canceled"
    listed = home.client.get("/api/admin/auctions?status=canceled", headers=home.admin).json
    assert [a["id"] for a in listed] == [auction]
    wrong = home.client.get("/api/admin/auctions?status=closed", headers=home.admin)
    assert wrong.status_code == 422


def test_a_routio_style_source_is_refused(home, home_lead, db):
    from app.store.sources import create_source

    _, key = create_source(home.tenant, "Partner", "home", api_style="routio")
    auction = want(home)
    bearer = {"Authorization": f"Bearer {key}"}
    assert home.client.get("/api/auctions", headers=bearer).status_code == 403
    response = home.client.post(
        f"/api/auctions/{auction}/leads", json=home_lead(21, kind="Solar"), headers=bearer
    )
    assert response.status_code == 403 and response.json["success"] is False
    assert Lead.select().count() == 0


def test_fills_count_against_the_sources_rate_limit(home, home_lead):
    from app.store.models import Source

    auction = want(home, fills="5")
    Source.update(rate_limit=1).where(Source.id == home.source.id).execute()
    assert fill(home, auction, home_lead(19, kind="Solar")).status_code == 201
    limited = fill(home, auction, home_lead(20, kind="Solar"))
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert limited.headers["X-RateLimit-Limit"] == "1"
    assert Auction.get(Auction.public_id == auction).fills == 1


# Concurrency: several sources fill at once; only PostgreSQL runs them truly in parallel.


def fire(url: str, calls: list[tuple[dict, dict]]) -> list[int]:
    """POST every (headers, body) to the URL at the same moment; return the statuses."""
    answers = send_together(url, [("POST", "", headers, body) for headers, body in calls])
    return [answer.status for answer in answers]


def sources(world, count: int) -> list[dict]:
    """Return the credentials of `count` sources of the world's category."""
    from app.store.sources import create_source

    made = [create_source(world.tenant, f"Seller {n}", "home", False) for n in range(count)]
    return [basic_auth(source.api_key, secret) for source, secret in made]


@pytest.mark.parametrize("wanted, fillers", [(1, 6), (3, 10)])
def test_concurrent_fillers_fill_exactly_the_fills_wanted(
    home, home_lead, threads_server, database_url, db, wanted, fillers
):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serializes every writer: the race needs PostgreSQL")
    auction = want(home, fills=str(wanted))
    credentials = sources(home, fillers)
    db.close()
    calls = [(auth, home_lead(100 + n, kind="Solar")) for n, auth in enumerate(credentials)]
    statuses = fire(f"{threads_server}/api/auctions/{auction}/leads", calls)
    assert sorted(statuses) == [201] * wanted + [409] * (fillers - wanted)
    stored = Auction.get(Auction.public_id == auction)
    assert (stored.fills, stored.status) == (wanted, "filled")
    gamma = Customer.get(Customer.slug == "gamma")
    charges = WalletEntry.select().where(
        WalletEntry.customer == gamma.id, WalletEntry.kind == "charge"
    )
    assert charges.count() == wanted
    assert gamma.balance_cents == 10000 - 3000 * wanted
    sold = Lead.select().where(Lead.bid_id == f"auction:{auction}")
    assert sold.count() == wanted
    assert Lead.select().count() == fillers  # every lead kept


def test_a_lead_an_auction_fills_keeps_its_data_as_posted(make_world, home_rules, home_lead):
    """The auction sells the lead, not the plan: the plan's alter stage changes nothing."""
    plan = (
        "stage alter {\n        set first_name = upper(first_name)\n    }\n"
        "    stage bidding highest_price"
    )
    world = make_world(home_rules(plan=plan), {"alpha": "100", "beta": "100", "gamma": "100"})
    auction = want(world)
    response = fill(world, auction, home_lead(7, kind="Solar"))
    assert response.json["auction"]["filled"] is True
    lead = Lead.get(Lead.public_id == response.json["lead_public_id"])
    assert lead.data["first_name"] == "Katy"
    # The plan alone (no auction to fill) would have stored it altered.
    response = world.post(home_lead(8, kind="Solar"))
    assert Lead.get(Lead.public_id == response.json["lead_public_id"]).data["first_name"] == "KATY"
