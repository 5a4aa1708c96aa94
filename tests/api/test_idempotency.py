"""Idempotency-Key: a retried POST gets the first answer and creates nothing."""

import json
from collections import Counter
from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.store.models import IdempotencyKey, Lead, Post, WalletEntry

KEY = {"Idempotency-Key": "6f1c2a9e-0b7d-4f4e-9a51-3c2b1d0e8f77"}


def charges() -> int:
    return WalletEntry.select().where(WalletEntry.kind == "charge").count()


def test_a_retry_gets_the_first_answer_byte_for_byte(world, seed_lead):
    first = world.post(seed_lead, headers=KEY)
    again = world.post(seed_lead, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert "X-RateLimit-Remaining" in again.headers
    assert (Lead.select().count(), Post.select().count(), charges()) == (1, 1, 1)


def test_a_refusal_is_replayed_too(world, seed_lead):
    del seed_lead["last_name"]
    first = world.post(seed_lead, headers=KEY)
    again = world.post(seed_lead, headers=KEY)
    assert first.status_code == again.status_code == 422
    assert again.data == first.data  # the same request id inside: the one of the first try
    assert Post.select().count() == 1


def test_the_same_key_with_another_payload_is_422(world, seed_lead):
    assert world.post(seed_lead, headers=KEY).status_code == 201
    other = world.post(dict(seed_lead, first_name="Kate"), headers=KEY)
    assert other.status_code == 422
    assert other.json["error"] == "idempotency_key_reused"
    other_query = world.client.post(
        "/api/leads?utm_source=x", json=seed_lead, headers={**world.auth, **KEY}
    )
    assert other_query.status_code == 422
    assert Lead.select().count() == 1
    rejected = Post.select().where(Post.accepted == False)  # noqa: E712
    assert [p.status_code for p in rejected] == [422, 422]


def test_the_payload_is_compared_in_canonical_form(world, seed_lead):
    headers = {**world.auth, **KEY, "Content-Type": "application/json"}
    first = world.client.post("/api/leads?a=1&b=2", data=json.dumps(seed_lead), headers=headers)
    reordered = json.dumps(dict(reversed(list(seed_lead.items()))), indent=4)
    again = world.client.post("/api/leads?b=2&a=1", data=reordered, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.data == first.data


def test_keys_belong_to_one_source(make_world, seed_lead):
    one, two = make_world(name="One"), make_world(name="Two")
    assert one.post(seed_lead, headers=KEY).status_code == 201
    answer = two.post(seed_lead, headers=KEY)
    assert answer.status_code == 201
    assert "Idempotent-Replayed" not in answer.headers
    assert Lead.select().count() == 2


def test_keys_expire_after_24_hours(world, seed_lead):
    first = world.post(seed_lead, headers=KEY).json
    IdempotencyKey.update(expires_at=utcnow() - timedelta(seconds=1)).execute()
    again = world.post(seed_lead, headers=KEY)
    assert again.status_code == 201
    assert again.json["lead_public_id"] != first["lead_public_id"]
    assert again.json["status"] == "duplicate"  # a new lead, which the dedupe rules catch
    (row,) = IdempotencyKey.select()
    assert row.expires_at - row.created_at == timedelta(hours=24)


def test_a_key_still_in_progress_is_409(world, seed_lead):
    from app.store.idempotency import claim_key

    claim = claim_key(world.source, KEY["Idempotency-Key"], fingerprint_of(world, seed_lead), "r1")
    assert claim.outcome == "new"
    busy = world.post(seed_lead, headers=KEY)
    assert busy.status_code == 409
    assert busy.json["error"] == "request_in_progress"
    assert busy.headers["Retry-After"] == "1"
    assert Lead.select().count() == 0
    # A claim left by a request that died is taken over after a while.
    IdempotencyKey.update(locked_at=utcnow() - timedelta(minutes=3)).execute()
    assert world.post(seed_lead, headers=KEY).status_code == 201
    assert world.post(seed_lead, headers=KEY).headers["Idempotent-Replayed"] == "true"


def fingerprint_of(world, seed_lead) -> str:
    """Return the fingerprint the intake computes for posting seed_lead as JSON."""
    from app.api.idempotency import fingerprint

    with world.client.application.test_request_context(
        "/api/leads", method="POST", json=seed_lead
    ) as context:
        return fingerprint(context.request)


def test_transient_refusals_are_not_kept(make_world, seed_lead, db):
    from app.dsl import read_rule_files
    from app.store.rules import push_rules
    from tests.conftest import EXAMPLES

    world = make_world(category="roofing")  # no rules for it yet: 503
    assert world.post(seed_lead, headers=KEY).status_code == 503
    rules = read_rule_files(str(EXAMPLES / "solar"))
    push_rules(world.tenant, {"r.rules": rules["solar.rules"].replace("solar", "roofing")}, "t")
    db.close()
    answer = world.post(seed_lead, headers=KEY)
    assert answer.status_code == 201
    assert "Idempotent-Replayed" not in answer.headers


def test_a_kept_lead_that_failed_distribution_is_not_created_twice(home, home_lead, db):
    from app.store.models import BidCounter

    table = BidCounter._meta.table_name
    db.execute_sql(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        first = home.post(home_lead(kind="Solar"), headers=KEY)
    finally:
        db.execute_sql(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')
    again = home.post(home_lead(kind="Solar"), headers=KEY)
    assert first.status_code == again.status_code == 500
    assert again.data == first.data
    assert Lead.select().count() == 1


@pytest.mark.parametrize("value", ["", "x" * 256, "clé", "two words"])
def test_malformed_keys_are_400(world, seed_lead, value):
    response = world.post(seed_lead, headers={"Idempotency-Key": value})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json["message"]
    assert Post.get().status_code == 400
    assert Lead.select().count() == 0


def test_a_quoted_key_is_the_same_key(world, seed_lead):
    world.post(seed_lead, headers={"Idempotency-Key": '"abc-123"'})
    again = world.post(seed_lead, headers={"Idempotency-Key": "abc-123"})
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_routio_style_replays(routio, routio_body):
    first = routio.post(routio_body, headers=KEY)
    again = routio.post(routio_body, headers=KEY)
    assert first.status_code == again.status_code == 200
    assert again.data == first.data and first.json["status"] == "sold"
    mismatch = routio.post(dict(routio_body, firstName="Jane"), headers=KEY)
    assert mismatch.status_code == 422
    assert mismatch.json["error"] == "Idempotency key reused"


def test_simultaneous_retries_create_one_lead(world, seed_lead, threads_server, fire):
    headers = {**world.auth, **KEY, "Content-Type": "application/json"}
    results = fire(threads_server, [(headers, json.dumps(seed_lead).encode())] * 12)
    check_one_lead(results)


def test_simultaneous_retries_across_gunicorn_workers(world, seed_lead, gunicorn, fire):
    url = gunicorn()
    headers = {**world.auth, **KEY, "Content-Type": "application/json"}
    results = fire(url, [(headers, json.dumps(seed_lead).encode())] * 12)
    check_one_lead(results)


def check_one_lead(results) -> None:
    """Exactly one request did the work; the others were told to wait or got its answer."""
    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {201, 409}
    originals = [r for r in results if r[0] == 201 and "Idempotent-Replayed" not in r[1]]
    assert len(originals) == 1
    bodies = {body for status, _, body in results if status == 201}
    assert bodies == {originals[0][2]}
    assert Lead.select().count() == 1
    assert WalletEntry.select().where(WalletEntry.kind == "charge").count() == 1
    assert Post.select().where(Post.accepted == True).count() == 1  # noqa: E712
    assert Post.select().where(Post.status_code == 409).count() == statuses[409]
