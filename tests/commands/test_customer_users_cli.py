"""`sluice customer user add|list|remove TENANT CUSTOMER EMAIL`: a buyer's own users."""

from __future__ import annotations


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_add_prints_the_token_once_and_it_opens_the_customer_api(sluice, world, client):
    code, out = sluice("customer", "user", "add", world.tenant.code, "sunco", "ann@sunco.example")
    assert code == 0, out
    assert "ann@sunco.example (customer sunco)" in out and "(shown once)" in out
    token = next(word for word in out.split() if word.startswith("sct_"))
    me = client.get("/api/customer/me", headers=bearer(token))
    assert me.status_code == 200 and me.json["slug"] == "sunco"
    code, out = sluice("customer", "user", "list", world.tenant.code, "sunco")
    assert code == 0 and "ann@sunco.example" in out and token not in out


def test_remove_deactivates_and_the_token_stops_working(sluice, world, client):
    added = sluice.json("customer", "user", "add", world.tenant.code, "sunco", "ann@sunco.example")
    assert added["role"] == "customer" and added["customer"] == "sunco"
    code, out = sluice(
        "customer", "user", "remove", world.tenant.code, "sunco", "ann@sunco.example"
    )
    assert code == 0 and "ann@sunco.example deactivated" in out
    assert client.get("/api/customer/me", headers=bearer(added["token"])).status_code == 401
    [listed] = sluice.json("customer", "user", "list", world.tenant.code, "sunco")
    assert listed["email"] == "ann@sunco.example" and listed["active"] is False


def test_refusals_are_errors_with_the_reason(sluice, world):
    tenant = world.tenant.code
    code, out = sluice("customer", "user", "add", tenant, "nobody", "a@b.example")
    assert code == 1 and "no customer 'nobody'" in out
    code, out = sluice("customer", "user", "add", tenant, "sunco", "not-an-email")
    assert code == 1 and "not an email address" in out
    sluice.json("customer", "user", "add", tenant, "sunco", "ann@sunco.example")
    code, out = sluice("customer", "user", "add", tenant, "brightside", "ann@sunco.example")
    assert code == 1 and "exists already" in out
    code, out = sluice("customer", "user", "remove", tenant, "brightside", "ann@sunco.example")
    assert code == 1 and "has no user" in out


def test_the_tenants_user_list_shows_customer_users_with_their_customer(sluice, world):
    sluice.json("customer", "user", "add", world.tenant.code, "sunco", "ann@sunco.example")
    users = sluice.json("user", "list", world.tenant.code)
    assert [(u["role"], u["customer"]) for u in users] == [("admin", None), ("customer", "sunco")]
