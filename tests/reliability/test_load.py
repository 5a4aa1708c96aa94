"""Load invariants: concurrent clients against gunicorn (4 workers) on PostgreSQL.

While it runs, an admin returns every fourth lead sold in its first 60% (twice at once:
one return wins).
Afterwards, over the tables: every request got its documented status and no 5xx; one post
per authenticated request; one final status per accepted lead; wallets = deposits -
charges + credits, never negative; no cap or budget overrun, returned leads freeing their
units; counters = leads sold and not returned; no dedupe key passed twice. Then the
marketplace's leads are claimed by several customers at once: a lead claimed at most once,
with one charge; no claims limit overrun; the books still balance.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from app.store.db import database
from app.store.models import Customer, Lead
from tests.reliability.conftest import scaled, set_up_tenant
from tests.reliability.load import (
    BUDGETS,
    CAPS,
    CLAIM_LIMITS,
    RULES,
    WALLETS,
    Returner,
    check_answers,
    check_duplicate_groups,
    check_tables,
    claim_leads,
    plan_workload,
    run_load,
    summarize,
)

REQUESTS = 600
CLIENTS = 8


def test_invariants_hold_under_concurrent_load(app, database_url, gunicorn_factory):
    credentials = set_up_tenant(RULES, WALLETS)
    server = gunicorn_factory(database_url, workers=4)
    planned = plan_workload(scaled(REQUESTS))
    returner = Returner(server.url, credentials.admin, until=len(planned) * 3 // 5).start()
    started = time.monotonic()
    results = run_load(
        [server.url], credentials.auth, planned, clients=CLIENTS, on_result=returner.offer
    )
    returned = returner.finish()
    report = summarize(results, time.monotonic() - started)
    print(f"\nload: {report}, {len(returned)} leads returned")  # docs/reliability.md quotes

    assert returned and all(statuses == [200, 409] for _, statuses in returned), returned
    assert Lead.select().where(Lead.status == "returned").count() == len(returned)

    assert report.errors == [], report.errors[:5]
    assert not [status for status in report.statuses if status >= 500], report.statuses
    check_answers(results)
    check_duplicate_groups(results)
    # Then the marketplace's leads, each claimed by three customers at once.
    for slug, limit in CLAIM_LIMITS.items():
        Customer.update(claims_per_day=limit).where(Customer.slug == slug).execute()
    offered = [lead.public_id for lead in Lead.select().where(Lead.status == "marketplace")]
    database.close()
    rng = random.Random(45)
    calls = [(ref, slug) for ref in offered for slug in rng.sample(sorted(WALLETS), 3)]
    rng.shuffle(calls)
    claims = claim_leads(server.url, credentials.admin, calls, clients=CLIENTS)
    assert set(claims) <= {200, 409}, Counter(claims)
    assert claims.count(200) == Lead.select().where(Lead.bid_id.startswith("claim:")).count()
    counts = check_tables(results)
    unauthorized = sum(1 for item in planned if item.kind == "unauthorized")
    assert counts["posts"] == len(planned) - unauthorized
    assert counts["pending"] == 0
    # Every kind of outcome happened, and the small limits were reached, not just respected.
    assert {"assigned", "marketplace", "duplicate", "audit", "uncategorized"} <= set(
        report.outcomes
    )
    sold = Counter(lead.bid_id for lead in Lead.select().where(Lead.status == "assigned"))
    for bid_id, (cap, _) in CAPS.items():
        assert sold[bid_id] >= cap, (bid_id, sold)
    prices = {"beta_roof": 3500, "eps_solar": 225}
    for bid_id, (budget, _) in BUDGETS.items():
        assert sold[bid_id] >= budget // prices[bid_id], (bid_id, sold)
    assert claims.count(200) >= CLAIM_LIMITS["alpha"], Counter(claims)  # claims were sold
    gamma = Customer.get(Customer.slug == "gamma")
    assert gamma.balance_cents < 1250  # its wallet ran out
