"""The `sluice` commands: the admin operations on the command line, each with --json."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.domain.status import Status
from app.store.models import Customer, Lead, RuleSetVersion, Source, Tenant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def sluice(app, database_url, monkeypatch):
    """Return run(*args) -> (exit code, output) against the test database."""
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    monkeypatch.setenv("SLUICE_PUBLIC_URL", "http://sluice.test")
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return run


def run_json(sluice, *args: str):
    code, output = sluice(*args, "--json")
    assert code == 0, output
    return json.loads(output)


def basic(key: str, secret: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tenant(sluice):
    """Create tenant ACME1234 with the example rules' customers and rules."""
    created = run_json(sluice, "tenant", "create", "Acme Leads", "--code", "acme1234")
    for slug in ("sunco", "brightside", "bargain"):
        run_json(
            sluice,
            "customer",
            "create",
            "ACME1234",
            slug,
            "--name",
            slug.title(),
            "--balance",
            "100",
        )
    run_json(sluice, "rules", "push", "acme-leads", str(EXAMPLES))
    return created


def test_db_upgrade_is_idempotent(sluice):
    assert run_json(sluice, "db", "upgrade") == {"applied": []}
    assert run_json(sluice, "db", "status") == {"pending": []}


def test_tenant_create_prints_tenant_and_admin_token(sluice, client):
    created = run_json(sluice, "tenant", "create", "Acme Leads", "--code", "acme1234")
    assert created["tenant"]["code"] == "ACME1234"
    assert created["tenant"]["slug"] == "acme-leads"
    token = created["admin"]["token"]
    me = client.get("/api/admin/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["user"]["role"] == "admin"
    code, output = sluice("tenant", "create", "Other", "--code", "ACME1234")
    assert code == 1 and "taken" in output
    assert [t["code"] for t in run_json(sluice, "tenant", "list")] == ["ACME1234"]
    assert Tenant.select().count() == 1


def test_rules_push_refuses_unknown_customers(sluice):
    run_json(sluice, "tenant", "create", "Acme", "--code", "ACME1234")
    code, output = sluice("rules", "push", "ACME1234", str(EXAMPLES), "--json")
    assert code == 1
    body = json.loads(output)
    assert {d["code"] for d in body["details"]["diagnostics"]} == {"unknown-customer"}
    assert RuleSetVersion.select().count() == 0
    code, output = sluice("rules", "push", "ACME1234", str(EXAMPLES))
    assert code == 1 and "unknown customer" in output


def test_rules_push_refuses_errors(sluice, tmp_path):
    run_json(sluice, "tenant", "create", "Acme", "--code", "ACME1234")
    (tmp_path / "bad.rules").write_text(
        'category x "X" {\n  field zip zip required(post)\n  field\n}\n'
    )
    code, output = sluice("rules", "push", "ACME1234", str(tmp_path))
    assert code == 1
    assert "bad.rules:4:1: error[syntax]" in output


def test_rules_push_list_rollback(sluice, tenant, tmp_path):
    rules = (EXAMPLES / "solar/solar.rules").read_text().replace("price 8.50", "price 9.00")
    (tmp_path / "solar.rules").write_text(rules)
    pushed = run_json(sluice, "rules", "push", "ACME1234", str(tmp_path / "solar.rules"))
    assert (pushed["version"], pushed["files"]) == (2, ["solar.rules"])
    again = run_json(sluice, "rules", "push", "ACME1234", str(tmp_path / "solar.rules"))
    assert again["version"] == 2  # unchanged rules: no new version
    listed = run_json(sluice, "rules", "list", "ACME1234")
    assert [(v["version"], v["active"]) for v in listed] == [(2, True), (1, False)]
    back = run_json(sluice, "rules", "rollback", "ACME1234")
    assert (back["version"], back["active"]) == (1, True)
    code, output = sluice("rules", "list", "acme-leads")
    assert code == 0 and "content_hash".upper() in output


def test_source_create_token_spec_and_a_lead(sluice, tenant, client):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    assert source["api_key"].startswith("skk_") and source["api_secret"].startswith("sks_")
    assert Source.get().secret_hash != source["api_secret"]
    token = run_json(sluice, "source", "token", source["id"])["token"]
    spec = run_json(sluice, "source", "spec", source["api_key"])
    assert spec["endpoint"]["url"] == "http://sluice.test/api/leads"
    payload = dict(
        spec["fields"][0]
        and {f["name"]: f["example"] for f in spec["fields"] if f["required_for_post"]}
    )
    response = client.post("/api/leads", json=payload, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.json
    leads = run_json(sluice, "lead", "list", "ACME1234")
    assert [lead["id"] for lead in leads] == [response.json["lead_public_id"]]
    detail = run_json(sluice, "lead", "show", "ACME1234", leads[0]["id"])
    assert detail["timeline"][0]["kind"] == "received"
    posts = run_json(sluice, "post", "list", "ACME1234")
    assert posts[0]["status"] == "Accepted"
    post = run_json(sluice, "post", "show", "ACME1234", posts[0]["id"])
    assert post["payload"] == payload
    code, output = sluice("lead", "list", "ACME1234", "--status", "assigned")
    assert code == 0 and leads[0]["id"] in output


def test_customer_list_deposit_deactivate(sluice, tenant):
    listed = run_json(sluice, "customer", "list", "ACME1234")
    assert {c["slug"]: c["balance"] for c in listed} == {
        "bargain": 100.0,
        "brightside": 100.0,
        "sunco": 100.0,
    }
    assert run_json(sluice, "customer", "deposit", "ACME1234", "sunco", "25.50")["balance"] == 125.5
    assert run_json(sluice, "customer", "deactivate", "ACME1234", "sunco")["active"] is False
    assert Customer.get(Customer.slug == "sunco").active is False
    code, output = sluice("customer", "deposit", "ACME1234", "sunco", "lots")
    assert code == 1 and "not an amount" in output
    code, output = sluice("customer", "deposit", "ACME1234", "sunco", "0")
    assert code == 1 and "more than zero" in output
    code, output = sluice("customer", "list", "ACME1234")
    assert "125.50" in output


def test_user_create_with_role(sluice, tenant):
    user = run_json(sluice, "user", "create", "ACME1234", "ana@acme.example", "--role", "analyst")
    assert user["role"] == "analyst" and user["token"].startswith("sut_")
    users = run_json(sluice, "user", "list", "ACME1234")
    assert [u["role"] for u in users] == ["admin", "analyst"]


def test_lead_reprocess_from_the_cli(sluice, tenant, client):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    run_json(sluice, "customer", "deactivate", "ACME1234", "bargain")
    run_json(sluice, "customer", "deactivate", "ACME1234", "brightside")
    run_json(sluice, "customer", "deactivate", "ACME1234", "sunco")
    import base64

    auth = base64.b64encode(f"{source['api_key']}:{source['api_secret']}".encode()).decode()
    lead = {
        "first_name": "Jo",
        "last_name": "Doe",
        "phone": "555-123-4567",
        "state": "FL",
        "zip": "33139",
    }
    body = client.post("/api/leads", json=lead, headers={"Authorization": f"Basic {auth}"}).json
    assert body["status"] == "marketplace"
    code, output = sluice("lead", "reprocess", "ACME1234", body["lead_public_id"])
    assert code == 1 and "cannot be reprocessed" in output
    Lead.update(status=Status.UNASSIGNED).execute()
    run_json(sluice, "customer", "activate", "ACME1234", "bargain")
    done = run_json(sluice, "lead", "reprocess", "ACME1234", body["lead_public_id"])
    assert (done["status"], done["customer"]) == ("assigned", "bargain")


def test_unknown_tenant_is_a_clear_error(sluice):
    code, output = sluice("customer", "list", "NOPE0000")
    assert code == 1
    assert "no tenant" in output


def test_source_tokens_are_listed_and_revoked_one_by_one(sluice, tenant, client, seed_lead):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    first = run_json(sluice, "source", "token", source["id"])
    second = run_json(sluice, "source", "token", source["id"])
    assert first["id"].startswith("tok_") and first["id"] != second["id"]
    revoked = run_json(sluice, "source", "revoke-token", source["id"], first["id"])
    assert revoked["id"] == first["id"] and revoked["revoked_at"]
    listed = run_json(sluice, "source", "tokens", source["id"])
    assert [(t["id"], t["revoked_at"] is not None) for t in listed] == [
        (first["id"], True),
        (second["id"], False),
    ]
    assert "token" not in listed[0]  # a token is shown once, when created
    assert (
        client.post("/api/leads", json=seed_lead, headers=bearer(first["token"])).status_code == 401
    )
    assert (
        client.post("/api/leads", json=seed_lead, headers=bearer(second["token"])).status_code
        == 201
    )
    code, output = sluice("source", "revoke-token", source["id"], "tok_0000000000000000")
    assert code == 1 and "no token" in output


def test_source_rotate_secret_prints_the_new_one_once(sluice, tenant, client, seed_lead):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    rotated = run_json(sluice, "source", "rotate-secret", source["id"])
    assert rotated["api_key"] == source["api_key"]
    assert (
        rotated["api_secret"].startswith("sks_") and rotated["api_secret"] != source["api_secret"]
    )
    old = basic(source["api_key"], source["api_secret"])
    new = basic(source["api_key"], rotated["api_secret"])
    assert client.post("/api/leads", json=seed_lead, headers=old).status_code == 401
    assert client.post("/api/leads", json=seed_lead, headers=new).status_code == 201
    code, output = sluice("source", "rotate-secret", source["id"])
    assert code == 0 and "(shown once)" in output


def test_source_rotate_secret_with_an_overlap(sluice, tenant, client, seed_lead):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    rotated = run_json(sluice, "source", "rotate-secret", source["id"], "--overlap-hours", "2")
    assert rotated["previous_secret_expires_at"]
    for secret in (source["api_secret"], rotated["api_secret"]):
        headers = basic(source["api_key"], secret)
        assert client.post("/api/leads", json=seed_lead, headers=headers).status_code == 201
    code, output = sluice("source", "rotate-secret", source["id"], "--overlap-hours", "721")
    assert code == 2 and "overlap-hours" in output


def test_rules_push_and_check_print_warnings_on_stderr(sluice, tenant, tmp_path):
    rules = tmp_path / "solar.rules"
    rules.write_text(
        (EXAMPLES / "solar/solar.rules").read_text()
        + '\nlead_type again "Again" in solar priority 1 when homeowner == true\n'
        + 'lead_type again_too "Again too" in solar priority 1 when homeowner == true\n'
    )
    runner = CliRunner()
    result = runner.invoke(main, ["rules", "push", "ACME1234", str(rules)])
    assert result.exit_code == 0, result.output
    assert "solar.rules:" in result.stderr and ": warning[unreachable-lead-type]: " in result.stderr
    assert "version" in result.stdout and "warning" not in result.stdout
    pushed = run_json(sluice, "rules", "push", "ACME1234", str(rules))
    assert {w["code"] for w in pushed["warnings"]} == {"unreachable-lead-type"}
    checked = runner.invoke(main, ["rules", "check", "ACME1234", str(rules)])
    assert checked.exit_code == 0 and "warning[unreachable-lead-type]" in checked.stderr
    assert checked.stdout.startswith("ok: solar")
    shown = run_json(sluice, "rules", "show", "ACME1234", str(pushed["version"]))
    assert shown["files"] == {"solar.rules": rules.read_text()}


def test_post_list_shows_public_ids_and_filters(sluice, tenant, client, seed_lead):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    auth = basic(source["api_key"], source["api_secret"])
    lead = client.post("/api/leads", json=seed_lead, headers=auth).json
    assert client.post("/api/leads", json={"zip": "nope"}, headers=auth).status_code == 422
    code, output = sluice("post", "list", "ACME1234", "--status", "accepted")
    assert code == 0 and lead["lead_public_id"] in output and lead["lead_uuid"] not in output
    rejected = run_json(sluice, "post", "list", "ACME1234", "--status", "rejected")
    assert [p["status"] for p in rejected] == ["Rejected"]
    assert run_json(sluice, "post", "list", "ACME1234", "--source", "src_nobody") == []
    paged = run_json(sluice, "post", "list", "ACME1234", "--limit", "1", "--offset", "1")
    assert [p["status"] for p in paged] == ["Accepted"]


def test_no_tenant_names_the_database_without_its_password(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"], catch_exceptions=False)
    result = runner.invoke(main, ["customer", "list", "acme"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: no tenant 'acme' in sqlite:///instance/sluice.sqlite3 (set SLUICE_DATABASE_URL)"
    )
    url = "postgresql://sluice:hunter2@127.0.0.1:1/nowhere?connect_timeout=1"
    monkeypatch.setenv("SLUICE_DATABASE_URL", url)
    result = runner.invoke(main, ["customer", "list", "acme"])
    assert result.exit_code == 1 and "hunter2" not in result.output
    assert "postgresql://sluice:***@127.0.0.1:1/nowhere" in result.stderr


def test_a_malformed_setting_is_an_error_not_a_traceback(monkeypatch):
    monkeypatch.setenv("SLUICE_RATE_LIMIT", "lots")
    result = CliRunner().invoke(main, ["tenant", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: SLUICE_RATE_LIMIT must be int, got 'lots'"


def test_lead_approve_and_reject_from_the_cli(sluice, tenant, client):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    headers = basic(source["api_key"], source["api_secret"])
    held = []
    for n in range(3):
        lead = {
            "first_name": "Jo",
            "last_name": "Doe",
            "email": f"jo{n}@mailinator.com",  # the "Disposable email" audit
            "phone": f"555-123-000{n}",
            "state": "FL",
            "zip": "33139",
        }
        body = client.post("/api/leads", json=lead, headers=headers).json
        assert body["status"] == "audit"
        held.append(body["lead_public_id"])
    code, output = sluice("lead", "reject", "ACME1234", held[0])
    assert code == 2 and "--note" in output  # a rejection says why
    rejected = run_json(sluice, "lead", "reject", "ACME1234", held[0], "--note", "Fake")
    assert rejected == [{"id": held[0], "status": "audit", "error": None}]
    code, output = sluice("lead", "approve", "ACME1234", held[0], held[1])
    assert code == 1 and "1 of 2 leads cannot be approved" in output and "was rejected" in output
    code, output = sluice("lead", "approve", "ACME1234", held[1], held[2], "--note", "Checked")
    assert code == 0 and output.count("assigned") == 2, output
    shown = run_json(sluice, "lead", "show", "ACME1234", held[1])
    assert shown["review"]["note"] == "Checked" and shown["review"]["by"].startswith("cli")


def test_lead_delete_from_the_cli(sluice, tenant, client):
    source = run_json(
        sluice, "source", "create", "ACME1234", "--name", "Web", "--category", "solar"
    )
    headers = basic(source["api_key"], source["api_secret"])
    refs = []
    for n in range(2):
        lead = {
            "first_name": "Jo",
            "last_name": "Doe",
            "email": f"jo{n}@example.org",
            "phone": f"555-123-000{n}",
            "state": "FL",
            "zip": "33139",
        }
        refs.append(client.post("/api/leads", json=lead, headers=headers).json["lead_public_id"])
    code, output = sluice("lead", "delete", "ACME1234", refs[0], "lead_nobody")
    assert code == 1 and "lead_nobody" in output and "none was deleted" in output
    done = run_json(sluice, "lead", "delete", "ACME1234", *refs)
    assert [(row["id"], row["already"]) for row in done] == [(ref, False) for ref in refs]
    code, output = sluice("lead", "delete", "ACME1234", refs[0])
    assert code == 0 and "True" in output, output  # deleted already: nothing changed
    shown = run_json(sluice, "lead", "show", "ACME1234", refs[0])
    assert shown["deleted"] is True and shown["data"] == {}
    assert shown["timeline"][-1]["message"].startswith("Deleted by cli")
    code, output = sluice("lead", "show", "ACME1234", refs[1])
    assert code == 0 and "(erased: the lead was deleted at" in output, output
