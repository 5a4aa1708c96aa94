"""Partners and enrichment providers: settings checked on save, names unique, headers
encrypted, what rules may name."""

from __future__ import annotations

import json

import pytest

from app.domain.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from app.domain.partners import AnswerRule
from app.services import partners
from app.services.actor import operator_actor, user_actor
from app.store.models import Partner
from app.store.partners import find_partners, partner_of, unknown_partners
from app.store.tenants import create_tenant, create_user

KEY = "sk_live_partner_0123456789"
LEADCO = {
    "name": "leadco",
    "ping_url": "https://leadco.example/ping",
    "post_url": "https://leadco.example/post",
    "headers": {"Authorization": f"Bearer {KEY}"},
    "field_map": {"zip_code": "zip", "ping_id": "@reference", "vendor": {"value": 42}},
    "accepted_path": "status == 'accepted'",
    "price_path": "bid.price",
    "reference_path": "ping_id",
}
REALESTATE = {
    "name": "realestate",
    "kind": "enrichment",
    "url": "https://api.realestate.example/property",
    "method": "GET",
    "data_path": "property",
}


@pytest.fixture
def admin(world, db, secret_key):
    return operator_actor(world.tenant.code)


def test_a_partner_is_added_with_its_headers_encrypted(admin, db):
    row = partners.add_partner(admin, LEADCO)
    assert row.public_id.startswith("prt_") and row.kind == "partner"
    assert row.timeout_ms == 2000 and row.method == "POST" and row.body_format == "json"
    raw = db.execute_sql("SELECT headers_encrypted FROM partner").fetchone()[0]
    assert KEY not in raw
    assert partners.header_names(row) == ["Authorization"]
    domain = partner_of(row)
    assert domain.headers == {"Authorization": f"Bearer {KEY}"}
    assert domain.rules["price"] == AnswerRule(path="bid.price")
    assert domain.url_for("ping") == "https://leadco.example/ping"
    assert domain.url_for("enrich") is None


def test_a_provider_needs_the_address_fields_by_default(admin):
    row = partners.add_partner(admin, REALESTATE)
    assert row.required_fields == ["address_1", "city", "state", "zip"]
    assert partner_of(row).required_fields == ("address_1", "city", "state", "zip")
    changed = partners.update_partner(admin, "realestate", {"required_fields": ["zip"]})
    assert changed.required_fields == ["zip"]


def test_list_show_update_and_remove(admin):
    partners.add_partner(admin, LEADCO)
    partners.add_partner(admin, REALESTATE)
    assert [row.name for row in partners.list_partners(admin)] == ["leadco", "realestate"]
    assert [row.name for row in partners.list_partners(admin, "enrichment")] == ["realestate"]
    row = partners.show_partner(admin, "leadco")
    assert partners.show_partner(admin, row.public_id).id == row.id
    changed = partners.update_partner(admin, "leadco", {"timeout_ms": 500, "ping_url": None})
    assert changed.timeout_ms == 500 and changed.ping_url is None  # direct posts only
    assert changed.field_map == LEADCO["field_map"]  # kept
    assert partners.header_names(changed) == ["Authorization"]  # kept
    cleared = partners.update_partner(admin, "leadco", {"headers": {}})
    assert partners.header_names(cleared) == [] and cleared.headers_encrypted is None
    partners.remove_partner(admin, "leadco")
    with pytest.raises(NotFoundError):
        partners.show_partner(admin, "leadco")
    assert Partner.get_by_id(row.id).removed_at is not None  # kept for the timelines


def test_a_name_is_unique_in_its_tenant_until_removed(admin, world):
    partners.add_partner(admin, LEADCO)
    with pytest.raises(ConflictError, match="'leadco' is taken"):
        partners.add_partner(admin, {**REALESTATE, "name": "leadco"})
    partners.add_partner(admin, REALESTATE)
    with pytest.raises(ConflictError):
        partners.update_partner(admin, "realestate", {"name": "leadco"})
    partners.remove_partner(admin, "leadco")
    again = partners.add_partner(admin, LEADCO)
    assert again.name == "leadco"
    other, _, _ = create_tenant("Other")
    assert partners.add_partner(operator_actor(other.code), LEADCO).tenant_id == other.id


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "lead-co"}, "name", "a rules identifier"),
        ({"name": "9lives"}, "name", "a rules identifier"),
        ({"name": "prt_01jf"}, "name", "not their names"),
        ({"kind": "buyer"}, "kind", "one of partner, enrichment"),
        ({"post_url": "ftp://leadco.example"}, "post_url", "http:// or https://"),
        ({"post_url": None}, "post_url", "required"),
        ({"ping_url": "https://x.example:99999/"}, "ping_url", "http:// or https://"),
        ({"url": "https://x.example/"}, "url", "a partner has none"),
        ({"method": "DELETE"}, "method", "one of POST, PUT, GET"),
        ({"body_format": "xml"}, "body_format", "one of json, form"),
        ({"template": "{{ lead.zip }"}, "template", "line 1"),
        ({"template": "{}"}, "template", "a field map or a template, not both"),
        ({"field_map": {"zip_code": "zip code"}}, "field_map", "one of our fields"),
        ({"field_map": {"x": {"value": [1]}}}, "field_map", "a constant is"),
        ({"field_map": []}, "field_map", "an object of 1 to 200"),
        ({"headers": {"Content-Type": "text/xml"}}, "headers", "set by Sluice"),
        ({"headers": {"X-Key": "a\nb"}}, "headers", "line break"),
        ({"timeout_ms": 10}, "timeout_ms", "50 to 30000"),
        ({"timeout_ms": "fast"}, "timeout_ms", "50 to 30000"),
        ({"price_path": "bid.[price"}, "price_path", "not a JMESPath expression"),
        ({"reason_pattern": "("}, "reason_pattern", "not a regular expression"),
        ({"accepted_pattern": "OK"}, "accepted_pattern", "not both"),
        ({"data_path": "property"}, "data_path", "only an enrichment provider"),
        ({"colour": "red"}, "colour", "unknown"),
    ],
)
def test_wrong_settings_are_refused_by_field(admin, changes, field, message):
    with pytest.raises(InvalidError) as refused:
        partners.add_partner(admin, {**LEADCO, **changes})
    assert field in refused.value.details, refused.value.details
    assert any(message in text for text in refused.value.details[field])


def test_every_wrong_field_is_reported_at_once(admin):
    with pytest.raises(InvalidError) as refused:
        partners.add_partner(
            admin, {**REALESTATE, "url": "nope", "data_path": "[", "required_fields": ["a b"]}
        )
    assert set(refused.value.details) == {"url", "data_path", "required_fields"}


def test_a_kind_cannot_change(admin):
    partners.add_partner(admin, LEADCO)
    with pytest.raises(InvalidError, match="kind cannot change"):
        partners.update_partner(admin, "leadco", {"kind": "enrichment"})


def test_rules_may_name_only_kept_partners_of_the_right_kind(admin, world):
    partners.add_partner(admin, LEADCO)
    partners.add_partner(admin, REALESTATE)
    partners.add_partner(admin, {**LEADCO, "name": "gone"})
    partners.remove_partner(admin, "gone")
    tenant = world.tenant
    names = ["leadco", "gone", "realestate", "nobody"]
    assert unknown_partners(tenant, names, "partner") == ["gone", "nobody", "realestate"]
    assert unknown_partners(tenant, ["realestate", "leadco"], "enrichment") == ["leadco"]
    assert unknown_partners(tenant, [], "partner") == []
    other, _, _ = create_tenant("Other")
    assert unknown_partners(other, ["leadco"], "partner") == ["leadco"]
    assert [row.name for row in find_partners(tenant, ["leadco"], "partner")] == ["leadco"]
    with pytest.raises(NotFoundError, match="no enrichment provider 'leadco'"):
        find_partners(tenant, ["leadco"], "enrichment")


def test_reading_is_every_roles_and_writing_the_admins(world, db, secret_key):
    partners.add_partner(operator_actor(world.tenant.code), LEADCO)
    viewer, _ = create_user(world.tenant, "viewer@acme.example", "viewer")
    actor = user_actor(viewer)
    assert [row.name for row in partners.list_partners(actor)] == ["leadco"]
    with pytest.raises(ForbiddenError):
        partners.add_partner(actor, {**LEADCO, "name": "mine"})
    with pytest.raises(ForbiddenError):
        partners.update_partner(actor, "leadco", {"timeout_ms": 100})
    with pytest.raises(ForbiddenError):
        partners.remove_partner(actor, "leadco")


def test_a_field_map_and_template_are_stored_as_given(admin):
    template = '{"zip": {{ lead.zip | tojson }}, "ping_id": "{{ reference }}"}'
    row = partners.add_partner(admin, {**LEADCO, "field_map": None, "template": template})
    assert row.template == template and row.field_map is None
    assert json.loads(json.dumps(partner_of(row).template)) == template
