"""Rate limits: per source API key, failed authentications per client IP, shared by workers.

Each test runs with the in-memory store and, when SLUICE_TEST_REDIS_URL is set, with Redis.
"""

import json
import logging
import time
from collections import Counter

import pytest

from app.api.ratelimit import EXTENSION, RateLimiter
from app.store.models import Lead, Ping, Post, Source
from app.store.sources import update_source


def limit_source(source, per_minute: int) -> None:
    update_source(Source.get_by_id(source.id), rate_limit=per_minute)


def test_every_answer_carries_the_rate_limit_headers(world, seed_lead, rate_store):
    before = time.time()
    first = world.post(seed_lead)
    assert first.status_code == 201
    assert first.headers["X-RateLimit-Limit"] == "60"
    assert first.headers["X-RateLimit-Remaining"] == "59"
    reset = int(first.headers["X-RateLimit-Reset"])
    assert before + 59 <= reset <= time.time() + 61  # epoch seconds, a minute ahead
    invalid = world.post({"zip": "nope"})
    assert invalid.status_code == 422
    assert invalid.headers["X-RateLimit-Remaining"] == "58"


def test_over_the_limit_is_429_with_retry_after_and_recorded(world, seed_lead, rate_store):
    limit_source(world.source, 3)
    statuses = [world.post(dict(seed_lead, phone=f"555-123-000{n}")).status_code for n in range(3)]
    assert statuses == [201, 201, 201]
    refused = world.post(dict(seed_lead, phone="555-123-0009"))
    assert refused.status_code == 429
    assert refused.json["error"] == "rate_limited"
    assert refused.json["request_id"] == refused.headers["X-Request-Id"]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.json["retry_after"] == retry_after
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    post = Post.select().order_by(Post.id.desc()).first()
    assert (post.accepted, post.status_code) == (False, 429)
    assert post.payload["phone"] == "555-123-0009"
    assert Lead.select().count() == 3


def test_routio_style_429(routio, routio_body, rate_store):
    limit_source(routio.source, 1)
    assert routio.post(routio_body).status_code == 200
    refused = routio.post(routio_body)
    assert refused.status_code == 429
    assert (refused.json["success"], refused.json["error"]) == (False, "Rate limit exceeded")
    assert int(refused.headers["Retry-After"]) >= 1
    assert Post.select().where(Post.status_code == 429).count() == 1


def test_each_api_key_has_its_own_limit(make_world, home_lead, home_rules, rate_store):
    customers = {"alpha": "100", "beta": "100", "gamma": "100"}
    one = make_world(home_rules(), customers, name="One")
    two = make_world(home_rules(), customers, name="Two")
    limit_source(one.source, 1)
    assert one.post(home_lead(1)).status_code == 201
    assert one.post(home_lead(2)).status_code == 429
    answer = two.post(home_lead(3))
    assert answer.status_code == 201
    assert answer.headers["X-RateLimit-Remaining"] == "59"


def test_the_default_limit_comes_from_the_settings(app, world, seed_lead, rate_store):
    app.config["RATE_LIMIT"] = 2
    assert world.post(seed_lead).headers["X-RateLimit-Limit"] == "2"
    world.post(seed_lead)
    assert world.post(seed_lead).status_code == 429


def test_failed_authentications_are_limited_per_client_ip(app, world, seed_lead, rate_store):
    app.config["AUTH_FAILURE_LIMIT"] = 3
    wrong = {"Authorization": "Bearer sbt_guess"}
    answers = [world.client.post("/api/leads", json=seed_lead, headers=wrong) for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    assert answers[3].json["error"] == "rate_limited"
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert Post.select().count() == 0  # no tenant is known: nothing to record it under
    # A valid key from that address still gets in: shared egress IPs (Zapier, Make, NAT)
    # must not let one misconfigured integration lock out the others.
    assert world.post(seed_lead).status_code == 201


def test_forwarded_addresses_count_only_behind_trusted_proxies(app, world, seed_lead, rate_store):
    app.config["AUTH_FAILURE_LIMIT"] = 1
    wrong = {"Authorization": "Bearer sbt_guess"}

    def attempt(forwarded: str) -> int:
        headers = {**wrong, "X-Forwarded-For": forwarded}
        return world.client.post("/api/leads", json=seed_lead, headers=headers).status_code

    # No trusted proxy: X-Forwarded-For is the client's own claim; the peer address counts.
    assert [attempt("203.0.113.1"), attempt("203.0.113.2")] == [401, 429]
    app.config["TRUSTED_PROXIES"] = 1
    assert [attempt("198.51.100.7"), attempt("198.51.100.7")] == [401, 429]
    # The client may prepend anything; the entry our proxy appended is the one that counts.
    assert attempt("1.2.3.4, 198.51.100.7") == 429
    assert attempt("198.51.100.8") == 401


def test_routio_style_failed_authentication_429(app, routio, routio_body, rate_store):
    app.config["AUTH_FAILURE_LIMIT"] = 1
    wrong = {"Authorization": "Bearer srk_guess"}
    assert routio.client.post("/api/leads", json=routio_body, headers=wrong).status_code == 401
    refused = routio.client.post("/api/leads", json=routio_body, headers=wrong)
    assert refused.status_code == 429
    assert refused.json["error"] == "Rate limit exceeded"


def test_an_unreachable_store_lets_leads_through_and_logs(app, world, seed_lead, caplog):
    app.extensions[EXTENSION] = RateLimiter("redis://127.0.0.1:9/0", "sluice-test")
    with caplog.at_level(logging.ERROR, logger="sluice.ratelimit"):
        response = world.post(seed_lead)
    assert response.status_code == 201
    assert "X-RateLimit-Limit" not in response.headers
    assert "rate limit store unavailable" in caplog.text


def test_limits_below_one_request_are_refused(make_world, client):
    from flask import Flask

    from app.api.ratelimit import init_app
    from app.config import load_config

    bare = Flask("sluice-settings")
    bare.config.update(load_config({"AUTH_FAILURE_LIMIT": 0}))
    with pytest.raises(ValueError, match="SLUICE_AUTH_FAILURE_LIMIT"):
        init_app(bare)
    world = make_world()
    url = f"/api/admin/sources/{world.source.public_id}"
    refused = client.patch(url, json={"rate_limit": 0}, headers=world.admin)
    assert refused.status_code == 422
    patched = client.patch(url, json={"rate_limit": 5}, headers=world.admin)
    assert patched.json["rate_limit"] == 5
    reset = client.patch(url, json={"rate_limit": None}, headers=world.admin)
    assert reset.json["rate_limit"] is None


def test_cli_sets_and_resets_a_source_limit(world, database_url, monkeypatch, seed_lead):
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    runner = CliRunner()
    ref = world.source.public_id
    result = runner.invoke(main, ["source", "set", ref, "--rate-limit", "7", "--json"])
    assert json.loads(result.output)["rate_limit"] == 7
    assert world.post(seed_lead).headers["X-RateLimit-Limit"] == "7"
    result = runner.invoke(main, ["source", "set", ref, "--rate-limit", "default", "--json"])
    assert json.loads(result.output)["rate_limit"] is None
    assert runner.invoke(main, ["source", "set", ref, "--rate-limit", "many"]).exit_code == 2
    listed = runner.invoke(main, ["source", "list", world.tenant.code])
    assert "RATE_LIMIT" in listed.output


# -- several processes: the limit is Redis's, whoever serves the request -------------------


def test_simultaneous_requests_never_exceed_the_limit(
    world, seed_lead, rate_store, threads_server, fire
):
    limit_source(world.source, 4)
    results = fire(threads_server, requests_for(world, seed_lead, 10))
    assert Counter(status for status, _, _ in results) == {201: 4, 429: 6}
    assert Lead.select().count() == 4


def test_the_limit_holds_across_gunicorn_workers(
    world, seed_lead, redis_url, redis_prefix, gunicorn, fire
):
    limit_source(world.source, 4)
    url = gunicorn(SLUICE_REDIS_URL=redis_url, SLUICE_RATE_LIMIT_PREFIX=redis_prefix)
    results = fire(url, requests_for(world, seed_lead, 10))
    assert Counter(status for status, _, _ in results) == {201: 4, 429: 6}
    assert Lead.select().count() == 4
    assert Post.select().where(Post.status_code == 429).count() == 6


def requests_for(world, seed_lead, count: int) -> list[tuple[dict, bytes]]:
    """Return `count` different leads of the world's source, as (headers, JSON body)."""
    headers = {**world.auth, "Content-Type": "application/json"}
    return [
        (headers, json.dumps(dict(seed_lead, phone=f"555-123-20{n:02d}")).encode())
        for n in range(count)
    ]


def test_the_limit_holds_across_instances(world, seed_lead, redis_url, redis_prefix, database_url):
    from app import create_app

    limit_source(world.source, 2)
    settings = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RATE_LIMIT_PREFIX": redis_prefix,
    }
    instances = [create_app(settings).test_client() for _ in range(2)]
    answers = [
        instances[n % 2].post(
            "/api/leads", json=dict(seed_lead, phone=f"555-123-100{n}"), headers=world.auth
        )
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json["retry_after"] >= 1


def test_the_in_process_store_sweeps_on_the_request_thread_not_a_timer(monkeypatch):
    import limits.storage.memory as memory

    limiter = RateLimiter(None, "sluice")
    timer = limiter.storage.timer  # the one the library starts when the store is made
    for n in range(50):
        assert limiter.hit("source", f"src_{n % 3}", 100).allowed
    assert limiter.storage.timer is timer  # no new thread for any of the 50 hits
    assert set(limiter.storage.events) == {
        "LIMITER/source/src_0/100/1/minute",
        "LIMITER/source/src_1/100/1/minute",
        "LIMITER/source/src_2/100/1/minute",
    }
    # Two minutes on, the next hit sweeps what expired (once a second at most).
    later = time.time() + 120
    monkeypatch.setattr(memory.time, "time", lambda: later)
    state = limiter.hit("source", "src_9", 100)
    assert (state.allowed, state.remaining) == (True, 99)
    assert state.reset_at == pytest.approx(later + 60)
    kept = {key for key, entries in limiter.storage.events.items() if entries}
    assert kept == {"LIMITER/source/src_9/100/1/minute"}
    second = limiter.hit("source", "src_0", 100)  # within the second: no sweep, still exact
    assert second.remaining == 99


def test_pings_and_posts_share_the_sources_limit(world, seed_lead, rate_store):
    limit_source(world.source, 2)
    ping = {"state": "FL", "zip": "33139", "homeowner": "yes", "monthly_bill": "180"}
    first = world.client.post("/api/pings", json=ping, headers=world.auth)
    assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "1"
    assert world.post(seed_lead).status_code == 201
    refused = world.client.post("/api/pings", json={**ping, "phone": "555-1"}, headers=world.auth)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
    logged = Ping.select().order_by(Ping.id.desc()).first()
    assert (logged.status, logged.status_code) == ("rejected", 429)
    assert "phone" not in logged.payload  # identity is never stored, refused or not
