"""`sluice serve --demo`: a demo tenant whose printed credentials and cURL command work."""

import shlex

from app.commands.serve import demo_text
from app.services.demo import DEMO_CODE, setup_demo
from app.store.models import Customer, RuleSetVersion, Source, Tenant


def send_curl(client, command: str):
    """Replay a printed cURL command through the test client."""
    words = shlex.split(command.replace("\\\n", " "))
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    body = words[words.index("-d") + 1]
    path = words[-1].split("://", 1)[1].split("/", 1)[1]
    return client.post("/" + path, data=body, headers=headers)


def test_demo_credentials_and_curl_work(db, client):
    demo = setup_demo(None, "http://sluice.test")
    assert demo["tenant"]["code"] == DEMO_CODE
    assert demo["customers"] == ["bargain", "brightside", "sunco"]
    assert {c.balance_cents for c in Customer.select()} == {100_000}
    (source,) = demo["sources"]
    response = send_curl(client, source["curl"])
    assert response.status_code == 201, response.json
    assert response.json["status"] == "assigned"
    me = client.get("/api/admin/me", headers={"Authorization": f"Bearer {demo['admin_token']}"})
    assert me.json["tenant"]["code"] == DEMO_CODE
    text = demo_text(demo)
    assert source["api_secret"] in text and "curl -X POST" in text


def test_demo_again_reuses_the_tenant_with_fresh_credentials(db, client):
    first = setup_demo(None, "http://sluice.test")
    second = setup_demo(None, "http://sluice.test")
    assert Tenant.select().count() == 1 and Source.select().count() == 1
    assert RuleSetVersion.select().count() == 1
    old, new = first["sources"][0], second["sources"][0]
    assert old["api_secret"] != new["api_secret"]
    assert send_curl(client, old["curl"]).status_code == 401  # the old secret is revoked
    old_admin = {"Authorization": f"Bearer {first['admin_token']}"}
    assert client.get("/api/admin/me", headers=old_admin).status_code == 401
    assert send_curl(client, new["curl"]).status_code == 201
