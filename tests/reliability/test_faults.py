"""Faults in the middle of the load: a worker killed, the database stopped, two instances.

- kill -9 of a gunicorn worker: every 201 has its lead and charge, nothing is half-written
  (a sold lead has its deliveries, no other lead has one), the service keeps answering and
  the master replaces the worker.
- PostgreSQL stopped for a few seconds (a private cluster of the test's own: the shared
  one is never stopped): fast 503s, no hang, recovery without a restart, invariants hold.
- Two instances on different ports sharing PostgreSQL and Redis: invariants hold, and rate
  limits and the brute-force limit are counted across both.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from app.store.models import Lead, Post, Source
from tests.conftest import REQUIRE_SERVICES
from tests.reliability.conftest import (
    REDIS_URL,
    add_destinations,
    kill_worker,
    scaled,
    set_up_tenant,
)
from tests.reliability.load import (
    RULES,
    WALLETS,
    Planned,
    basic,
    check_answers,
    check_duplicate_groups,
    check_outbox,
    check_tables,
    plan_workload,
    run_load,
    send,
)

OUTAGE_SECONDS = 3.0
BUYER = "http://127.0.0.1:9"  # the destinations' address: no worker sends in these tests
FAST = 2.0  # seconds: a 503 slower than this is a hang, not an answer
GRACE = 1.0  # seconds after the restart in which a request begun during the outage may end


def get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def reprocess_pending(url: str, admin: str) -> int:
    """Route every lead left pending again through the admin API; return how many."""
    pending = list(Lead.select().where(Lead.status == "pending"))
    for lead in pending:
        request = urllib.request.Request(
            f"{url}/api/admin/leads/{lead.public_id}/reprocess",
            method="POST",
            headers={"Authorization": admin},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            assert json.load(response)["status"] != "pending"
    return len(pending)


def test_a_worker_killed_mid_load_loses_and_half_writes_nothing(
    app, database_url, secret_key, gunicorn_factory
):
    credentials = set_up_tenant(RULES, WALLETS)
    # Every customer has a destination: a sale's deliveries are written with it, or not at all.
    add_destinations(credentials.tenant_id, dict.fromkeys(WALLETS, "/leads"), BUYER, None)
    server = gunicorn_factory(database_url, workers=4)
    planned = plan_workload(scaled(450), seed=11)
    killed: dict[str, float] = {}
    answered: list = []

    def on_result(result) -> None:
        answered.append(result)
        if not killed and len(answered) >= len(planned) // 3:
            killed["pid"] = kill_worker(server)
            killed["at"] = time.monotonic()

    results = run_load([server.url], credentials.auth, planned, clients=8, on_result=on_result)

    assert killed, "the load ended before a worker was killed"
    lost = [result for result in results if result.status is None]
    # Only what the killed worker was serving: a sync worker serves one request at a time.
    assert len(lost) <= 2, [result.error for result in lost]
    assert not [r.status for r in results if r.status is not None and r.status >= 500]
    after = [result for result in results if result.started > killed["at"] + 0.1]
    assert len(after) >= len(planned) // 3 and all(r.status is not None for r in after)
    check_answers(results)
    check_duplicate_groups(results)
    check_tables(results, pending_allowed=len(lost))
    sold = check_outbox()["sold"]
    server.wait_healthy()  # the master replaced the worker
    assert killed["pid"] not in server.worker_pids()
    pending = Lead.select().where(Lead.status == "pending").count()
    print(
        f"\nkill -9: {len(results)} requests, {len(lost)} lost with the worker, "
        f"{len(after)} answered after the kill, {pending} lead(s) left pending"
    )
    reprocess_pending(server.url, credentials.admin)
    check_tables(results)
    assert check_outbox()["sold"] >= sold > 0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_database_outage_gives_fast_503s_and_recovers_by_itself(
    private_database, gunicorn_factory, mode
):
    """PostgreSQL stopped cleanly (fast) or crashed (immediate: no checkpoint, unwritten WAL
    lost) in the middle of the load. Either way every lead answered 201 is there with its
    charge afterwards: an answer waits for a synchronous commit."""
    private_postgres = private_database
    from app import create_app
    from app.store.migrations import upgrade

    app = create_app({"DATABASE_URL": private_postgres.url})  # binds the store to it
    with app.app_context():
        upgrade()
    credentials = set_up_tenant(RULES, WALLETS)
    server = gunicorn_factory(private_postgres.url, workers=4)
    planned = plan_workload(scaled(3000), seed=13)  # an upper bound: the run stops itself
    stop, begin = threading.Event(), threading.Event()
    timeline: dict[str, float] = {}
    health: dict[str, int] = {}
    seen = {"answers": 0, "after": 0}

    def on_result(result) -> None:
        seen["answers"] += 1
        if seen["answers"] >= scaled(100):
            begin.set()
        if "restarted" in timeline and result.started > timeline["restarted"] + GRACE:
            seen["after"] += 1
            if seen["after"] >= scaled(150):
                stop.set()

    def outage() -> None:
        try:
            begin.wait(60)
            timeline["stopping"] = time.monotonic()
            private_postgres.stop(mode)
            timeline["stopped"] = time.monotonic()
            health["down"] = get(server.url + "/healthz")
            time.sleep(OUTAGE_SECONDS)  # the outage itself, not a synchronisation
            private_postgres.start()
            timeline["restarted"] = time.monotonic()
        finally:
            if "restarted" not in timeline:
                stop.set()

    thread = threading.Thread(target=outage)
    thread.start()
    results = run_load(
        [server.url],
        credentials.auth,
        planned,
        clients=6,
        on_result=on_result,
        stop=stop,
        pause_after_503=0.05,
    )
    thread.join(120)
    assert "restarted" in timeline, "the outage did not run"

    assert [r.error for r in results if r.status is None] == []  # every request answered
    unavailable = [r for r in results if r.status == 503]
    assert unavailable, "no request saw the outage"
    slow = [round(r.seconds, 2) for r in unavailable if r.seconds > FAST]
    assert slow == [], f"503s that took too long: {slow}"
    window = (timeline["stopping"] - 0.5, timeline["restarted"] + GRACE)
    outside = [
        (r.planned.request_id, r.body)
        for r in unavailable
        if not window[0] <= r.started <= window[1]
    ]
    if outside:
        lines = server.log_path.read_text().splitlines()
        logged = [line for line in lines if "unavailable" in line]
        pytest.fail(f"503s outside the outage: {outside}; the server logged: {logged[:5]}")
    assert not [
        r.status for r in results if r.status is not None and r.status >= 500 and r.status != 503
    ]
    assert health["down"] == 503 and get(server.url + "/healthz") == 200
    recovered = [r for r in results if r.started > timeline["restarted"] + GRACE]
    assert len(recovered) >= scaled(150) and {r.status for r in recovered} <= {
        201,
        400,
        401,
        415,
        422,
    }
    print(
        f"\noutage ({mode}): {len(results)} requests, {len(unavailable)} answered 503 in at most "
        f"{max(r.seconds for r in unavailable) * 1000:.0f} ms; "
        f"{len(recovered)} answered after recovery"
    )

    check_answers(results, tolerated=frozenset({503}))
    check_duplicate_groups(results)
    check_tables(results, pending_allowed=len(unavailable), unrecorded=frozenset({503}))
    reprocess_pending(server.url, credentials.admin)
    check_tables(results, unrecorded=frozenset({503}))


@pytest.fixture
def redis_url():
    if not REDIS_URL:
        message = "the two-instance test shares Redis: set SLUICE_TEST_REDIS_URL"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


def test_two_instances_share_the_books_and_the_rate_limits(
    app, database_url, redis_url, gunicorn_factory
):
    from app.store.sources import create_source

    if "rate_limit" not in Source._meta.fields:
        pytest.fail("sources have no rate limit: the rate-limiting work has not landed")
    credentials = set_up_tenant(RULES, WALLETS)
    owner = Source.get(Source.public_id == credentials.source_id).tenant
    limited, secret = create_source(owner, "Limited", "home")
    Source.update(rate_limit=30).where(Source.id == limited.id).execute()
    env = {
        "SLUICE_REDIS_URL": redis_url,
        "SLUICE_RATE_LIMIT_PREFIX": f"sluice-test-{uuid.uuid4().hex[:12]}",  # runs never meet
        "SLUICE_AUTH_FAILURE_LIMIT": "10",
    }
    first = gunicorn_factory(database_url, workers=2, env=env)
    second = gunicorn_factory(database_url, workers=2, env=env)
    planned = [p for p in plan_workload(scaled(500), seed=17) if p.kind != "unauthorized"]
    results = run_load([first.url, second.url], credentials.auth, planned, clients=8)
    assert [r.error for r in results if r.status is None] == []
    check_answers(results)
    check_duplicate_groups(results)
    assert check_tables(results)["posts"] == len(planned)

    # 45 leads from the limited source (30 a minute), alternating instances: 30 pass.
    auth = basic(limited.api_key, secret)
    urls = [first.url, second.url]
    statuses = [
        send(
            urls[n % 2], auth, Planned(90_000 + n, "fresh", _lead_body(n), "application/json")
        ).status
        for n in range(45)
    ]
    assert statuses[:30] == [201] * 30 and statuses[30:] == [429] * 15, statuses
    refused = Post.select().where((Post.source == limited.id) & (Post.status_code == 429))
    assert refused.count() == 15  # a rate-limited post is recorded

    # Guessing credentials: 10 failures a minute per address, across both instances.
    guesses = [
        send(
            urls[n % 2], basic(f"skk_guess{n}", "x"), Planned(95_000 + n, "fresh", b"{}", "json")
        ).status
        for n in range(16)
    ]
    assert guesses[:10] == [401] * 10 and guesses[10:] == [429] * 6, guesses


def _lead_body(n: int) -> bytes:
    lead = {
        "first_name": "Rae",
        "phone": f"557-2{n // 10000 % 100:02d}-{n % 10000:04d}",
        "state": "FL",
        "zip": "33139",
        "kind": "Roof",
    }
    return json.dumps(lead).encode()
