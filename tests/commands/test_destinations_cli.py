"""`sluice customer destination ...`: the admin API's destinations on the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main


@pytest.fixture
def sluice(world, database_url, monkeypatch, secret_key):
    """Return run(*args) -> (exit code, output) against the world's database."""
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return run


def run_json(sluice, *args: str):
    code, output = sluice(*args, "--json")
    assert code == 0, output
    return json.loads(output)


def test_add_show_update_rotate_and_remove(sluice, world, db):
    tenant = world.tenant.code
    added = run_json(
        sluice,
        *("customer", "destination", "add", tenant, "sunco", "--name", "CRM"),
        *("--url", "https://crm.sunco.example/leads", "--header", "X-Api-Key: sk_live_0123456789"),
    )
    secret = added["signing_secret"]
    assert secret.startswith("whsec_")
    assert added["headers"] == {"X-Api-Key": "sk…(18 chars)"}
    raw = db.execute_sql("SELECT headers_encrypted, secret_encrypted FROM delivery_destination")
    assert all("sk_live" not in column and secret not in column for column in raw.fetchone())
    dst = added["id"]
    code, text = sluice("customer", "destination", "rotate-secret", tenant, "sunco", dst)
    assert code == 0 and "(shown once)" in text
    code, text = sluice("customer", "destination", "show", tenant, "sunco", dst)
    assert code == 0 and "X-Api-Key: sk…(18 chars)" in text and secret not in text
    listed = run_json(sluice, "customer", "destination", "list", tenant, "sunco")
    assert [row["id"] for row in listed] == [dst]
    updated = run_json(
        sluice,
        *("customer", "destination", "update", tenant, "sunco", dst),
        *("--retry-schedule", "10,60", "--success-field", "status", "--success-value", "ok"),
        "--pause",
    )
    assert updated["retry_schedule"] == [10, 60] and updated["active"] is False
    assert updated["success"] == {"json_field": "status", "equals": "ok", "pattern": None}
    rotated = run_json(sluice, "customer", "destination", "rotate-secret", tenant, "sunco", dst)
    assert rotated["signing_secret"] != secret and len(rotated["signing_secrets"]) == 2
    assert len(rotated["previous_secret_expires_at"]) == len("2026-01-01T00:00:00Z")
    removed = run_json(sluice, "customer", "destination", "remove", tenant, "sunco", dst)
    assert removed == {"removed": dst, "canceled_deliveries": 0}
    assert run_json(sluice, "customer", "destination", "list", tenant, "sunco") == []


def test_an_email_destination_and_a_refusal_by_field(sluice, world, tmp_path):
    tenant = world.tenant.code
    added = run_json(
        sluice,
        *("customer", "destination", "add", tenant, "sunco", "--name", "Inbox"),
        *("--email", "leads@sunco.example", "--email", "ops@sunco.example"),
    )
    assert added["kind"] == "email" and added["signing_secret"] is None
    template = tmp_path / "body.j2"
    template.write_text('{\n"zip": "{{ lead.zip }}"\n{% endfor %}\n')
    code, output = sluice(
        *("customer", "destination", "add", tenant, "sunco", "--name", "CRM"),
        *("--url", "https://crm.sunco.example/", "--template-file", str(template), "--json"),
    )
    assert code == 1
    refusal = json.loads(output)
    assert refusal["details"]["errors"]["template"][0].startswith("line 3: ")


def test_a_malformed_secret_key_stops_the_command(sluice, world, monkeypatch):
    monkeypatch.setenv("SLUICE_SECRET_KEY", "not-a-fernet-key")
    code, output = sluice("customer", "destination", "list", world.tenant.code, "sunco", "--json")
    assert code == 1
    assert "SLUICE_SECRET_KEY key 1 is not a Fernet key" in json.loads(output)["error"]
