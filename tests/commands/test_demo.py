"""`sluice serve --demo`: a demo tenant whose printed credentials and cURL command work."""

import json
import shlex
import stat
from pathlib import Path

import pytest

from app.commands.serve import demo_text
from app.services.demo import DEMO_CODE, credentials_path, demo_rules_path, setup_demo
from app.services.examples import examples_path
from app.store.db import database_file
from app.store.models import Customer, RuleSetVersion, Source, SourceToken, Tenant


@pytest.fixture(autouse=True)
def _secret_key(secret_key):
    """The demo's inbox destinations keep a secret: `sluice serve --demo` always has a key."""


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


def test_demo_text_shows_the_docs_and_a_working_admin_curl(db, client):
    demo = setup_demo(None, "http://sluice.test")
    text = demo_text(demo)
    assert "API docs:    http://sluice.test/api/docs" in text
    assert demo["admin_curl"] in text
    words = shlex.split(demo["admin_curl"])
    assert words[:2] == ["curl", "-H"] and words[3] == "http://sluice.test/api/admin/leads"
    name, value = words[2].split(": ", 1)
    response = client.get("/api/admin/leads", headers={name: value})
    assert response.status_code == 200, response.json


def test_demo_keeps_its_credentials_across_runs(db, client, tmp_path):
    saved = tmp_path / "demo-credentials.json"
    first = setup_demo(None, "http://sluice.test", saved)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    second = setup_demo(None, "http://sluice.test", saved)
    assert second["admin_token"] == first["admin_token"]
    (old,), (new,) = first["sources"], second["sources"]
    assert (new["api_secret"], new["bearer_token"]) == (old["api_secret"], old["bearer_token"])
    assert SourceToken.select().count() == 1  # no token piles up per start
    assert second["credentials_file"] == str(saved) and str(saved) in demo_text(second)
    # Both printed commands work, and each sells: a new phone and email every run.
    assert old["curl"] != new["curl"]
    for source in (old, new):
        response = send_curl(client, source["curl"])
        assert response.status_code == 201, response.json
        assert response.json["status"] == "assigned"
    bearer = {"Authorization": f"Bearer {new['bearer_token']}"}
    assert client.post("/api/leads", json={}, headers=bearer).status_code == 422


def test_demo_reset_issues_new_credentials(db, client, tmp_path):
    saved = tmp_path / "demo-credentials.json"
    first = setup_demo(None, "http://sluice.test", saved)
    second = setup_demo(None, "http://sluice.test", saved, reset=True)
    old, new = first["sources"][0], second["sources"][0]
    assert old["api_secret"] != new["api_secret"]
    assert second["admin_token"] != first["admin_token"]
    assert send_curl(client, old["curl"]).status_code == 401
    assert send_curl(client, new["curl"]).status_code == 201
    assert json.loads(saved.read_text())["admin_token"] == second["admin_token"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"admin_token": 7, "sources": []}',
        '{"admin_token": "sut_stale", "sources": {"src_x": {"api_secret": "sks_stale"}}}',
    ],
    ids=["broken", "not-an-object", "wrong-types", "stale"],
)
def test_demo_replaces_credentials_that_no_longer_work(db, client, tmp_path, content):
    saved = tmp_path / "demo-credentials.json"
    setup_demo(None, "http://sluice.test")  # the tenant and source exist
    saved.write_text(content)
    demo = setup_demo(None, "http://sluice.test", saved)
    assert send_curl(client, demo["sources"][0]["curl"]).status_code == 201
    me = client.get("/api/admin/me", headers={"Authorization": f"Bearer {demo['admin_token']}"})
    assert me.status_code == 200
    assert json.loads(saved.read_text())["admin_token"] == demo["admin_token"]


def test_demo_keeps_credentials_beside_the_sqlite_database(db, app):
    with app.app_context():
        found = database_file()
        path = credentials_path()
    if found is None:  # PostgreSQL: the instance folder of the working directory
        assert path == Path("instance") / "demo-credentials.json"
    else:
        assert path == Path(found).parent / "demo-credentials.json"


def test_demo_rules_come_from_the_setting_then_rules_then_the_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert demo_rules_path(None) == examples_path()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "README.md").write_text("how rules are deployed")
    assert demo_rules_path(None) == examples_path()  # a folder without rules: the examples
    (tmp_path / "rules" / "mine.rules").write_text("# mine")
    assert demo_rules_path(None) == Path("rules")
    assert demo_rules_path("elsewhere") == Path("elsewhere")


def test_demo_keeps_one_secret_key_readable_by_its_owner_only(tmp_path):
    from app.services.demo import demo_secret_key
    from app.store.crypto import parse_keys

    path = tmp_path / "demo-secret-key"
    key = demo_secret_key(path)
    parse_keys(key)
    assert path.stat().st_mode & 0o777 == 0o600
    assert demo_secret_key(path) == key
    path.write_text("not a key")
    replaced = demo_secret_key(path)
    assert replaced != key and parse_keys(replaced)
