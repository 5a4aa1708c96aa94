"""Delivery destinations: settings checked on save, secrets encrypted, shown once, rotated."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from app.domain.clock import utcnow
from app.domain.errors import ForbiddenError, InvalidError, NotFoundError, UnavailableError
from app.services import destinations
from app.services.actor import operator_actor, user_actor
from app.store import crypto
from app.store.customers import create_customer
from app.store.destinations import destination_of
from app.store.models import DeliveryDestination
from app.store.tenants import create_tenant, create_user
from tests.delivery_rows import delivery_row, statuses

HTTP = {
    "name": "Sunco CRM",
    "kind": "http",
    "url": "https://crm.sunco.example/leads",
    "headers": {"X-Api-Key": "sk_live_0123456789"},
}


@pytest.fixture
def admin(world, db, secret_key):
    return operator_actor(world.tenant.code)


def test_an_http_destination_keeps_its_secrets_encrypted_and_shows_the_secret_once(admin, db):
    row = destinations.add_destination(admin, "sunco", HTTP)
    assert row.public_id.startswith("dst_")
    secret = row.revealed_secret
    assert secret.startswith("whsec_")
    Webhook(secret).sign("msg_1", utcnow(), b"{}")  # the standardwebhooks library takes it
    raw = db.execute_sql(
        "SELECT headers_encrypted, secret_encrypted FROM delivery_destination"
    ).fetchone()
    assert "sk_live_0123456789" not in raw[0] and "X-Api-Key" not in raw[0]
    assert secret not in raw[1] and secret[6:] not in raw[1]
    shown = destinations.show_destination(admin, "sunco", row.public_id)
    assert getattr(shown, "revealed_secret", None) is None
    destination = destination_of(shown)
    assert destination.headers == {"X-Api-Key": "sk_live_0123456789"}
    assert destination.signing_secrets == (secret,)
    assert destination.url == HTTP["url"] and destination.method == "POST"


def test_every_wrong_setting_is_refused_by_field(admin):
    with pytest.raises(InvalidError) as caught:
        destinations.add_destination(
            admin,
            "sunco",
            {
                "name": "x",
                "kind": "http",
                "url": "ftp://files.example/x",
                "method": "GET",
                "body_format": "xml",
                "headers": {
                    "Host": "evil.example",
                    "X-Ok": "a\r\nInjected: 1",
                    "X-Key": "caf\u00e9",  # no HTTP client sends it as it is: refused
                },
                "template": '{"a": 1,\n "b": {{ lead.zip }\n}',
                "success_pattern": "(unclosed",
                "retry_schedule": [5, 0, -1],
            },
        )
    errors = caught.value.details
    assert set(errors) == {
        "url",
        "method",
        "body_format",
        "headers",
        "template",
        "success_pattern",
        "retry_schedule",
    }
    assert errors["template"][0].startswith("line 2: ")
    assert "missing )" in errors["success_pattern"][0]
    assert len(errors["headers"]) == 3


def test_a_template_error_names_its_line(admin):
    template = '{\n  "zip": "{{ lead.zip }}",\n  "price": {{ lead.price | }}\n}'
    with pytest.raises(InvalidError) as caught:
        destinations.add_destination(admin, "sunco", {**HTTP, "template": template})
    assert caught.value.details["template"][0].startswith("line 3: ")
    assert caught.value.message.startswith("template: line 3: ")


def test_an_email_destination_needs_valid_addresses(admin):
    with pytest.raises(InvalidError) as caught:
        destinations.add_destination(
            admin, "sunco", {"name": "Inbox", "kind": "email", "addresses": ["nobody"]}
        )
    assert list(caught.value.details) == ["addresses"]
    with pytest.raises(InvalidError) as caught:
        destinations.add_destination(
            admin,
            "sunco",
            {
                "name": "Inbox",
                "kind": "email",
                "addresses": ["a@b.example"],
                "url": "https://x.example/",
            },
        )
    assert list(caught.value.details) == ["url"]
    row = destinations.add_destination(
        admin, "sunco", {"name": "Inbox", "kind": "email", "addresses": ["Leads@Sunco.Example"]}
    )
    with pytest.raises(InvalidError) as caught:
        destinations.update_destination(admin, "sunco", row.public_id, {"headers": {"A": "b"}})
    assert list(caught.value.details) == ["headers"]
    assert row.revealed_secret is None and row.secret_encrypted is None
    assert destination_of(row).addresses == ("Leads@sunco.example",)


def test_a_change_is_checked_with_the_settings_kept(admin):
    row = destinations.add_destination(
        admin, "sunco", {**HTTP, "success_field": "status", "success_value": "accepted"}
    )
    with pytest.raises(InvalidError) as caught:
        destinations.update_destination(admin, "sunco", row.public_id, {"url": "mailto:x@y.z"})
    assert list(caught.value.details) == ["url"]
    changed = destinations.update_destination(
        admin,
        "sunco",
        row.public_id,
        {"method": "put", "retry_schedule": [10, 60], "active": False},
    )
    assert (changed.method, changed.retry_schedule, changed.active) == ("PUT", [10, 60], False)
    assert changed.paused_at is not None and changed.paused_reason
    destination = destination_of(changed)
    assert destination.headers == HTTP["headers"]
    assert destination.success.json_field == "status"
    assert destination.success.equals == "accepted"
    resumed = destinations.update_destination(admin, "sunco", row.public_id, {"active": True})
    assert resumed.active and resumed.paused_at is None
    with pytest.raises(InvalidError):
        destinations.update_destination(admin, "sunco", row.public_id, {"kind": "email"})


def test_a_rotated_secret_still_signs_during_the_overlap_only(admin):
    row = destinations.add_destination(admin, "sunco", HTTP)
    old = row.revealed_secret
    now = utcnow()
    rotated = destinations.rotate_secret(
        admin, "sunco", row.public_id, timedelta(hours=24), now=now
    )
    new = rotated.revealed_secret
    assert new.startswith("whsec_") and new != old
    assert destination_of(rotated, now + timedelta(hours=23)).signing_secrets == (new, old)
    assert destination_of(rotated, now + timedelta(hours=24, seconds=1)).signing_secrets == (new,)


def test_a_customer_of_another_tenant_is_not_found(admin, db):
    other = create_tenant("Other Leads")[0]
    create_customer(other, "theirs", "Theirs")
    mine = destinations.add_destination(admin, "sunco", HTTP)
    theirs = destinations.add_destination(operator_actor(other.code), "theirs", HTTP)
    with pytest.raises(NotFoundError):
        destinations.list_destinations(admin, "theirs")
    with pytest.raises(NotFoundError):
        destinations.show_destination(admin, "sunco", theirs.public_id)
    with pytest.raises(NotFoundError):
        destinations.remove_destination(operator_actor(other.code), "theirs", mine.public_id)


def test_a_viewer_reads_but_cannot_add(admin, world):
    destinations.add_destination(admin, "sunco", HTTP)
    user, _ = create_user(world.tenant, "viewer@acme.example", "viewer")
    viewer = user_actor(user)
    assert len(destinations.list_destinations(viewer, "sunco")) == 1
    with pytest.raises(ForbiddenError, match="customers.write"):
        destinations.add_destination(viewer, "sunco", HTTP)


def test_a_removed_destination_is_kept_hidden_and_its_pending_deliveries_canceled(admin):
    row = destinations.add_destination(admin, "sunco", HTTP)
    other = destinations.add_destination(admin, "sunco", {**HTTP, "name": "Other"})
    made = [
        delivery_row(row, status=status) for status in ("pending", "pending", "sending", "dead")
    ]
    untouched = delivery_row(other, status="pending")
    assert destinations.remove_destination(admin, "sunco", row.public_id) == 2
    assert statuses(made) == ["canceled", "canceled", "sending", "dead"]  # the worker ends sending
    assert statuses([untouched]) == ["pending"]
    listed = destinations.list_destinations(admin, "sunco")
    assert [d.public_id for d in listed] == [other.public_id]
    for call in (
        lambda: destinations.show_destination(admin, "sunco", row.public_id),
        lambda: destinations.update_destination(admin, "sunco", row.public_id, {"name": "x"}),
        lambda: destinations.rotate_secret(admin, "sunco", row.public_id),
        lambda: destinations.remove_destination(admin, "sunco", row.public_id),
    ):
        with pytest.raises(NotFoundError, match="no destination"):
            call()
    kept = DeliveryDestination.get_by_id(row.id)  # for its deliveries' history
    assert kept.removed_at is not None and kept.active is False


def test_secrets_are_refused_without_a_key_and_read_with_a_rotated_key(admin, secret_key):
    row = destinations.add_destination(admin, "sunco", HTTP)
    newer = crypto.new_key()
    crypto.use_keys(f"{newer},{secret_key}")  # the old key decrypts, the new one encrypts
    assert destination_of(row).headers == HTTP["headers"]
    crypto.use_keys(newer)
    with pytest.raises(UnavailableError, match="does not decrypt"):
        destination_of(row)
    crypto.use_keys(None)
    with pytest.raises(UnavailableError, match="SLUICE_SECRET_KEY is not set"):
        destinations.add_destination(admin, "sunco", HTTP)


@pytest.mark.parametrize("raw", ["not-a-key", "a" * 44, "", " , "])
def test_a_malformed_key_is_refused_with_its_name(raw):
    with pytest.raises(ValueError, match="SLUICE_SECRET_KEY"):
        crypto.parse_keys(raw)


def test_the_masked_headers_show_two_characters_and_the_length(admin):
    from app.schemas import DestinationSchema

    row = destinations.add_destination(admin, "sunco", HTTP)
    data = DestinationSchema().dump(row)
    assert data["headers"] == {"X-Api-Key": "sk…(18 chars)"}
    assert row.revealed_secret not in json.dumps(data)
    assert data["signing_secrets"] == ["wh…(50 chars)"]
