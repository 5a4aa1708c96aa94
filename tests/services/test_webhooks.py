"""Tenant webhooks: HTTP destinations without a customer, for the events they subscribe to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from app.domain.clock import utcnow
from app.domain.delivery import EVENTS
from app.domain.errors import ForbiddenError, InvalidError, NotFoundError
from app.services import destinations, webhooks
from app.services.actor import operator_actor, user_actor
from app.store.destinations import destination_of
from app.store.models import DeliveryDestination
from app.store.tenants import create_tenant, create_user
from tests.delivery_rows import delivery_row, statuses

HOOK = {
    "url": "https://hooks.acme.example/sluice",
    "events": ["lead.unsold", "lead.sold", "lead.sold"],
    "headers": {"Authorization": "Bearer sk_live_0123456789"},
}


@pytest.fixture
def admin(world, db, secret_key):
    return operator_actor(world.tenant.code)


def test_a_webhook_is_an_http_destination_without_a_customer(admin, db):
    row = webhooks.add_webhook(admin, HOOK)
    assert row.public_id.startswith("whk_")
    assert (row.customer_id, row.kind, row.method, row.body_format) == (
        None,
        "http",
        "POST",
        "json",
    )
    assert row.name == "hooks.acme.example"  # none given: the URL's host
    assert row.events == ["lead.sold", "lead.unsold"]  # the catalogue's order, once each
    secret = row.revealed_secret
    Webhook(secret).sign("msg_1", utcnow(), b"{}")  # the standardwebhooks library takes it
    raw = db.execute_sql(
        "SELECT headers_encrypted, secret_encrypted FROM delivery_destination"
    ).fetchone()
    assert "sk_live_0123456789" not in raw[0] and secret not in raw[1]
    shown = webhooks.show_webhook(admin, row.public_id)
    assert getattr(shown, "revealed_secret", None) is None
    destination = destination_of(shown)
    assert destination.headers == HOOK["headers"] and destination.signing_secrets == (secret,)
    assert [w.public_id for w in webhooks.list_webhooks(admin)] == [row.public_id]


def test_webhooks_and_customers_destinations_do_not_mix(admin):
    hook = webhooks.add_webhook(admin, HOOK)
    settings = {"name": "CRM", "kind": "http", "url": HOOK["url"]}
    with pytest.raises(InvalidError, match="unknown settings: events"):
        destinations.add_destination(admin, "sunco", {**settings, "events": ["lead.sold"]})
    dst = destinations.add_destination(admin, "sunco", settings)
    assert dst.public_id.startswith("dst_") and dst.events is None
    assert [w.public_id for w in webhooks.list_webhooks(admin)] == [hook.public_id]
    assert [d.public_id for d in destinations.list_destinations(admin, "sunco")] == [dst.public_id]
    with pytest.raises(NotFoundError, match="no webhook"):
        webhooks.show_webhook(admin, dst.public_id)
    with pytest.raises(NotFoundError, match="no destination"):
        destinations.show_destination(admin, "sunco", hook.public_id)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (None, "a list of one or more events is required; known: lead.sold, "),
        ([], "a list of one or more events is required; known: "),
        ("lead.sold", "a list of one or more events is required; known: "),
        (["lead.sold", "lead.bought"], "unknown event 'lead.bought'; known: lead.sold, "),
        (["*"], "unknown event '*'; known: "),
        ([7], "unknown event '7'; known: "),
    ],
)
def test_events_are_an_explicit_list_from_the_catalogue(admin, events, message):
    settings = {**HOOK, "events": events} if events is not None else {"url": HOOK["url"]}
    with pytest.raises(InvalidError) as caught:
        webhooks.add_webhook(admin, settings)
    assert list(caught.value.details) == ["events"]
    assert caught.value.details["events"][0].startswith(message)
    assert all(event in caught.value.details["events"][0] for event in EVENTS)
    assert not DeliveryDestination.select().exists()


def test_every_wrong_setting_is_refused_by_field_at_once(admin):
    with pytest.raises(InvalidError) as caught:
        webhooks.add_webhook(
            admin,
            {
                "url": "ftp://hooks.acme.example/",
                "events": ["lead.nope"],
                "method": "GET",
                "headers": {"webhook-signature": "forged"},
                "template": "{{ body.type }",
                "retry_schedule": [0],
            },
        )
    errors = caught.value.details
    assert set(errors) == {"url", "events", "method", "headers", "template", "retry_schedule"}
    assert caught.value.message.startswith("url: ")
    with pytest.raises(InvalidError) as caught:
        webhooks.add_webhook(admin, {**HOOK, "kind": "email", "addresses": ["a@b.example"]})
    assert set(caught.value.details) == {"kind", "addresses"}  # HTTP only


def test_a_change_is_checked_with_the_settings_kept_and_pauses(admin):
    row = webhooks.add_webhook(admin, {**HOOK, "name": "Acme hooks"})
    with pytest.raises(InvalidError) as caught:
        webhooks.update_webhook(admin, row.public_id, {"events": []})
    assert list(caught.value.details) == ["events"]
    changed = webhooks.update_webhook(
        admin, row.public_id, {"events": ["delivery.failed"], "method": "put", "active": False}
    )
    assert changed.events == ["delivery.failed"] and changed.method == "PUT"
    assert changed.active is False and changed.paused_reason == "paused by cli:root"
    assert changed.name == "Acme hooks" and destination_of(changed).headers == HOOK["headers"]
    resumed = webhooks.update_webhook(admin, row.public_id, {"active": True})
    assert resumed.active and resumed.paused_at is None and resumed.events == ["delivery.failed"]


def test_a_rotated_secret_still_signs_during_the_overlap_only(admin):
    row = webhooks.add_webhook(admin, HOOK)
    old = row.revealed_secret
    now = utcnow()
    rotated = webhooks.rotate_secret(admin, row.public_id, timedelta(hours=2), now=now)
    new = rotated.revealed_secret
    assert new.startswith("whsec_") and new != old
    assert destination_of(rotated, now + timedelta(hours=1)).signing_secrets == (new, old)
    assert destination_of(rotated, now + timedelta(hours=3)).signing_secrets == (new,)
    with pytest.raises(InvalidError, match="0 to 30 days"):
        webhooks.rotate_secret(admin, row.public_id, timedelta(days=31))


def test_a_removed_webhook_is_kept_hidden_and_its_pending_deliveries_canceled(admin):
    row = webhooks.add_webhook(admin, HOOK)
    other = webhooks.add_webhook(admin, {**HOOK, "name": "Other"})
    made = [delivery_row(row, status=status) for status in ("pending", "sending", "delivered")]
    untouched = delivery_row(other, status="pending")
    assert webhooks.remove_webhook(admin, row.public_id) == 1
    assert statuses(made) == ["canceled", "sending", "delivered"]
    assert statuses([untouched]) == ["pending"]
    assert [w.public_id for w in webhooks.list_webhooks(admin)] == [other.public_id]
    with pytest.raises(NotFoundError, match="no webhook"):
        webhooks.show_webhook(admin, row.public_id)
    with pytest.raises(NotFoundError, match="no webhook"):
        webhooks.update_webhook(admin, row.public_id, {"active": True})
    with pytest.raises(NotFoundError, match="no webhook"):
        webhooks.remove_webhook(admin, row.public_id)
    kept = DeliveryDestination.get_by_id(row.id)
    assert kept.removed_at is not None and kept.active is False


def test_another_tenants_webhook_is_not_found(admin, db):
    other = create_tenant("Other Leads")[0]
    theirs = webhooks.add_webhook(operator_actor(other.code), HOOK)
    mine = webhooks.add_webhook(admin, HOOK)
    assert [w.public_id for w in webhooks.list_webhooks(admin)] == [mine.public_id]
    for call in (webhooks.show_webhook, webhooks.remove_webhook, webhooks.rotate_secret):
        with pytest.raises(NotFoundError):
            call(admin, theirs.public_id)


def test_a_viewer_lists_but_cannot_add(admin, world):
    webhooks.add_webhook(admin, HOOK)
    user, _ = create_user(world.tenant, "viewer@acme.example", "viewer")
    viewer = user_actor(user)
    assert len(webhooks.list_webhooks(viewer)) == 1
    with pytest.raises(ForbiddenError, match="webhooks.write"):
        webhooks.add_webhook(viewer, HOOK)
