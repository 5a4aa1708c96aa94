"""`sluice customer destination ...`: the admin API's destinations on the command line."""

from __future__ import annotations

import json


def test_add_show_update_rotate_and_remove(sluice, world, db):
    tenant = world.tenant.code
    added = sluice.json(
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
    listed = sluice.json("customer", "destination", "list", tenant, "sunco")
    assert [row["id"] for row in listed] == [dst]
    updated = sluice.json(
        *("customer", "destination", "update", tenant, "sunco", dst),
        *("--retry-schedule", "10,60", "--success-field", "status", "--success-value", "ok"),
        "--pause",
    )
    assert updated["retry_schedule"] == [10, 60] and updated["active"] is False
    assert updated["success"] == {"json_field": "status", "equals": "ok", "pattern": None}
    rotated = sluice.json("customer", "destination", "rotate-secret", tenant, "sunco", dst)
    assert rotated["signing_secret"] != secret and len(rotated["signing_secrets"]) == 2
    assert len(rotated["previous_secret_expires_at"]) == len("2026-01-01T00:00:00Z")
    removed = sluice.json("customer", "destination", "remove", tenant, "sunco", dst)
    assert removed == {"removed": dst, "canceled_deliveries": 0}
    assert sluice.json("customer", "destination", "list", tenant, "sunco") == []


def test_an_email_destination_and_a_refusal_by_field(sluice, world, tmp_path):
    tenant = world.tenant.code
    added = sluice.json(
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
