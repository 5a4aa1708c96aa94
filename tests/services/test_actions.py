"""The services' new actions: tokens revoked one by one, secrets rotated, rules checked,
push warnings, post filters, reprocess refusals."""

from __future__ import annotations

import pytest

from app.domain.errors import ConflictError, InvalidError, NotFoundError, UnavailableError
from app.domain.status import Status
from app.services import customers, leads, posts, rules, sources
from app.services.actor import operator_actor
from app.store.models import Lead, RuleSetVersion
from app.store.sources import authenticate_basic, authenticate_bearer, token_id
from tests.conftest import EXAMPLES

UNREACHABLE = (
    (EXAMPLES / "solar" / "solar.rules").read_text()
    + '\nlead_type again "Again" in solar priority 1 when homeowner == true\n'
    + 'lead_type again_too "Again too" in solar priority 1 when homeowner == true\n'
)


@pytest.fixture
def operator(world, db):
    return operator_actor(world.tenant.code)


def test_a_revoked_token_stops_working_and_the_others_go_on(world, operator):
    first = sources.create_token(operator, world.source.public_id)
    second = sources.create_token(operator, world.source.public_id)
    assert authenticate_bearer(first.token) is not None
    revoked = sources.revoke_token(operator, world.source.public_id, token_id(first.row))
    assert revoked.revoked_at is not None
    assert authenticate_bearer(first.token) is None
    assert authenticate_bearer(second.token) is not None
    listed = sources.list_tokens(operator, world.source.public_id)
    assert [(token_id(t), t.revoked_at is not None) for t in listed] == [
        (token_id(first.row), True),
        (token_id(second.row), False),
    ]
    again = sources.revoke_token(operator, world.source.public_id, token_id(first.row))
    assert again.revoked_at == revoked.revoked_at  # revoking twice changes nothing


@pytest.mark.parametrize("ref", ["tok_0000000000000000", "tok_zz", "", "tok_%", "nonsense"])
def test_revoking_an_unknown_token_is_not_found(world, operator, ref):
    with pytest.raises(NotFoundError):
        sources.revoke_token(operator, world.source.public_id, ref)


def test_a_token_is_revoked_only_through_its_own_source(world, operator):
    other = sources.create_source(operator, "Other form", "solar")
    token = sources.create_token(operator, other.source.public_id)
    with pytest.raises(NotFoundError):
        sources.revoke_token(operator, world.source.public_id, token_id(token.row))
    assert authenticate_bearer(token.token) is not None


def test_a_rotated_secret_replaces_the_old_one(world, operator):
    rotated = sources.rotate_secret(operator, world.source.api_key)
    assert rotated.secret.startswith("sks_") and rotated.secret != world.secret
    assert authenticate_basic(world.source.api_key, world.secret) is None
    assert authenticate_basic(world.source.api_key, rotated.secret) is not None


def test_a_routio_source_has_no_secret_to_rotate(world, operator):
    created = sources.create_source(operator, "Routio", None, api_style="routio")
    with pytest.raises(InvalidError, match="Routio-style"):
        sources.rotate_secret(operator, created.source.public_id)


def test_push_returns_the_warnings_and_check_stores_nothing(world, operator):
    files = {"solar.rules": UNREACHABLE}
    versions = RuleSetVersion.select().count()
    checked = rules.check_rules(operator, files)
    assert {w.code for w in checked.warnings} == {"unreachable-lead-type"}
    assert RuleSetVersion.select().count() == versions
    pushed = rules.push_rules(operator, files)
    assert [w.code for w in pushed.warnings] == [w.code for w in checked.warnings]
    assert pushed.version.active and pushed.version.created_by.startswith("cli")
    assert rules.show_version(operator, pushed.version.number).files == files
    with pytest.raises(NotFoundError):
        rules.show_version(operator, 99)


def test_post_list_filters_by_status_and_source(world, operator, seed_lead):
    assert world.post(seed_lead).status_code == 201
    assert world.post({"zip": "nope"}).status_code == 422
    accepted = posts.list_posts(operator, status="accepted")
    rejected = posts.list_posts(operator, status="rejected")
    assert [p.accepted for p in accepted] == [True] and [p.accepted for p in rejected] == [False]
    assert accepted[0].lead.public_id.startswith("lead_") and rejected[0].lead is None
    assert posts.list_posts(operator, source="src_nobody") == []
    assert len(posts.list_posts(operator, source=world.source.public_id, limit=1)) == 1
    assert len(posts.list_posts(operator, limit=1, offset=1)) == 1


def test_reprocess_refuses_a_routed_lead_and_a_category_without_rules(world, operator, seed_lead):
    body = world.post(seed_lead).json
    with pytest.raises(ConflictError, match="cannot be reprocessed"):
        leads.reprocess_lead(operator, body["lead_public_id"], test_price_cents=4500)
    Lead.update(status=Status.UNASSIGNED, category="roofing").execute()
    with pytest.raises(UnavailableError, match="no active rules"):
        leads.reprocess_lead(operator, body["lead_public_id"], test_price_cents=4500)
    with pytest.raises(NotFoundError):
        leads.reprocess_lead(operator, "lead_nobody", test_price_cents=4500)


def test_a_user_reaches_only_its_own_tenants_things(make_world, db):
    first = make_world(name="First")
    second = make_world(name="Second")
    intruder = operator_actor(second.tenant.code)
    with pytest.raises(NotFoundError):
        sources.rotate_secret(intruder, first.source.public_id)
    with pytest.raises(NotFoundError):
        customers.deposit(
            intruder, customers.list_customers(operator_actor("first"))[0].public_id, 1
        )
