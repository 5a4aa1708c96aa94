"""`sluice webhook ...`: the admin API's webhooks on the command line."""

from __future__ import annotations

import json

import pytest

from app.store.models import DeliveryDestination
from tests.delivery_rows import delivery_row, statuses


def test_add_show_update_rotate_and_remove(sluice, world, db, tmp_path):
    tenant = world.tenant.code
    template = tmp_path / "body.j2"
    template.write_text('{"kind": {{ body.type|tojson }}}')
    added = sluice.json(
        *("webhook", "add", tenant, "--url", "https://hooks.acme.example/sluice"),
        *("--events", "lead.unsold, lead.sold", "--events", "delivery.failed"),
        *("--header", "Authorization: Bearer sk_live_0123456789", "--template", str(template)),
    )
    secret = added["signing_secret"]
    assert added["id"].startswith("whk_") and secret.startswith("whsec_")
    assert added["events"] == ["lead.sold", "lead.unsold", "delivery.failed"]
    assert added["name"] == "hooks.acme.example"
    assert added["headers"] == {"Authorization": "Be…(25 chars)"}
    assert added["template"] == '{"kind": {{ body.type|tojson }}}'
    raw = db.execute_sql("SELECT headers_encrypted, secret_encrypted FROM delivery_destination")
    assert all("sk_live" not in column and secret not in column for column in raw.fetchone())
    whk = added["id"]
    code, text = sluice("webhook", "show", tenant, whk)
    assert code == 0 and secret not in text and "sk_live" not in text
    assert "Authorization: Be…(25 chars)" in text
    assert "lead.sold, lead.unsold, delivery.failed" in text
    code, text = sluice("webhook", "list", tenant)
    assert code == 0 and whk in text and "lead.sold,lead.unsold,delivery.failed" in text
    updated = sluice.json(
        *("webhook", "update", tenant, whk, "--events", "destination.paused"),
        *("--name", "Acme ops", "--retry-schedule", "10,60", "--pause"),
    )
    assert updated["events"] == ["destination.paused"] and updated["name"] == "Acme ops"
    assert updated["retry_schedule"] == [10, 60] and updated["active"] is False
    resumed = sluice.json("webhook", "update", tenant, whk, "--resume")
    assert resumed["active"] is True and resumed["events"] == ["destination.paused"]
    code, text = sluice("webhook", "rotate-secret", tenant, whk)
    assert code == 0 and "(shown once)" in text
    rotated = sluice.json("webhook", "rotate-secret", tenant, whk, "--overlap-hours", "0")
    assert rotated["signing_secret"] != secret
    pending = delivery_row(
        DeliveryDestination.get(DeliveryDestination.public_id == whk), status="pending"
    )
    code, text = sluice("webhook", "remove", tenant, whk)
    assert code == 0 and text == f"removed {whk}; 1 delivery not sent yet canceled\n"
    assert statuses([pending]) == ["canceled"]
    assert sluice.json("webhook", "list", tenant) == []
    code, output = sluice("webhook", "show", tenant, whk, "--json")
    assert code == 1 and json.loads(output)["error"] == f"no webhook '{whk}'"


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ((), "events", "a list of one or more events is required; known: lead.sold"),
        (("--events", ""), "events", "a list of one or more events is required"),
        (("--events", "lead.sold,lead.bought"), "events", "unknown event 'lead.bought'"),
        (("--events", "lead.sold", "--url", "hooks.acme.example"), "url", "an http://"),
        (("--events", "lead.sold", "--retry-schedule", "5,soon"), "retry_schedule", "whole"),
        (("--events", "lead.sold", "--header", "Authorization"), "headers", "Name: value"),
    ],
)
def test_refusals_name_the_field(sluice, world, options, field, message):
    tenant = world.tenant.code
    args = ("webhook", "add", tenant, "--url", "https://hooks.acme.example/", *options)
    code, output = sluice(*args, "--json")
    assert code == 1
    refusal = json.loads(output)
    assert refusal["details"]["errors"][field][0].startswith(message)
    code, output = sluice(*args)
    assert (code, output) == (1, f"error: {refusal['error']}\n")
    assert sluice.json("webhook", "list", tenant) == []


def test_an_unknown_tenant_or_webhook_is_named(sluice, world):
    code, output = sluice("webhook", "list", "NOPE1234")
    assert code == 1 and "no tenant 'NOPE1234'" in output
    code, output = sluice("webhook", "remove", world.tenant.code, "whk_nope")
    assert code == 1 and output == "error: no webhook 'whk_nope'\n"
