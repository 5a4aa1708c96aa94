"""Withheld leads under concurrency (PostgreSQL): the threshold is never exceeded, and
released leads keep their arrival order."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.services import withheld
from app.services.actor import operator_actor
from app.store.db import database
from app.store.models import Lead, LeadUsage


@pytest.fixture
def server(threads_server, database_url):
    """The app on a threaded server (tests/conftest.py), where writers can race."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time: routings cannot race")
    return threads_server


def post(url: str, headers: dict[str, str], body: dict) -> dict:
    request = urllib.request.Request(
        url + "/api/leads",
        data=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return {"status_code": error.code, **json.load(error)}


def at_once(calls: list) -> list:
    """Run every call at the same moment from its own thread; return their results."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        try:
            return call()
        finally:
            database.close()  # this thread's connection

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def routed_count() -> int:
    """Return how many leads were routed (counted): neither withheld nor duplicate."""
    return Lead.select().where(Lead.status.not_in(["withheld", "duplicate"])).count()


def test_leads_racing_for_the_last_units_route_exactly_the_threshold(home, home_lead, server):
    withheld.set_threshold(operator_actor(home.tenant.code), 5)
    for n in range(2):
        assert home.post(home_lead(n)).get_json()["status"] == "assigned"
    database.close()
    calls = [lambda n=n: post(server, home.auth, home_lead(100 + n)) for n in range(12)]
    answers = at_once(calls)
    statuses = [answer["status"] for answer in answers]
    assert statuses.count("withheld") == 9, statuses  # 3 units were left
    assert routed_count() == 5
    assert LeadUsage.get().leads == 5


def test_releases_racing_the_intake_never_exceed_the_threshold_and_keep_order(
    home, home_lead, server
):
    actor = operator_actor(home.tenant.code)
    withheld.set_threshold(actor, 2)
    for n in range(8):
        home.post(home_lead(n))
    held = [
        lead.public_id
        for lead in Lead.select()
        .where(Lead.status == "withheld")
        .order_by(Lead.received_at, Lead.id)
    ]
    assert len(held) == 6
    withheld.set_threshold(actor, 6)  # 4 units free
    database.close()
    releases = [lambda: withheld.release_withheld(operator_actor(home.tenant.code))] * 3
    intake = [lambda n=n: post(server, home.auth, home_lead(100 + n)) for n in range(6)]
    results = at_once(releases + intake)
    assert sum(results[:3]) == 4
    assert [answer["status"] for answer in results[3:]] == ["withheld"] * 6  # behind the queue
    assert routed_count() == 6
    assert LeadUsage.get().leads == 6
    status = {lead.public_id: lead.status for lead in Lead.select()}
    released = [status[ref] != "withheld" for ref in held]
    assert released == [True] * 4 + [False] * 2  # the oldest four
