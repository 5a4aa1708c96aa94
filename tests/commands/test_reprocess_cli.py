"""`sluice lead reprocess` (one lead, from a stage; many: breakdown, confirm, job) and
`sluice job list|show`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.services import reprocess
from app.services.actor import operator_actor
from app.services.worker import Worker
from app.store.models import Customer, Job, Lead, LeadEvent, Source, WalletEntry
from tests.servers import ROOT


@pytest.fixture
def unassigned(world, seed_lead, db):
    """Return the public ids of three solar leads left unassigned (their buyers inactive)."""
    Customer.update(active=False).execute()
    refs = []
    for n in range(3):
        body = world.post({**seed_lead, "phone": f"555-301-000{n}", "email": f"k{n}@x.com"}).json
        assert body["status"] == "marketplace", body
        refs.append(body["lead_public_id"])
    Lead.update(status="unassigned").execute()  # as if its plan had no marketplace
    Customer.update(active=True).execute()
    db.close()
    return refs


def test_one_lead_from_the_marketplace(sluice, world, unassigned):
    code, output = sluice("lead", "reprocess", world.tenant.code, unassigned[0], "--from", "nope")
    assert code == 2 and "'bidding', 'enrich', 'ping_post', 'post', 'marketplace'" in output
    tenant = world.tenant.code
    done = sluice.json("lead", "reprocess", tenant, unassigned[0], "--from", "marketplace")
    assert (done["status"], done["customer"]) == ("marketplace", None)


def test_many_leads_show_the_breakdown_and_ask_before_queuing_a_job(sluice, world, unassigned):
    tenant = world.tenant.code
    declined = sluice.runner.invoke(
        main,
        ["leads", "reprocess", tenant, *unassigned],
        input="n\n",
    )
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert "3 eligible, 0 ineligible (from bidding)" in declined.output
    assert Job.select().count() == 0
    confirmed = sluice.runner.invoke(
        main,
        ["leads", "reprocess", tenant, *unassigned, "--from", "bidding"],
        input="y\n",
    )
    assert confirmed.exit_code == 0, confirmed.output
    job = Job.get()
    assert f"Queued job {job.public_id}: 3 lead(s)" in confirmed.output
    Worker().drain()
    shown = sluice.json("job", "show", tenant, job.public_id)
    assert (shown["status"], shown["done"], shown["succeeded"]) == ("done", 3, 3)
    assert [j["id"] for j in sluice.json("jobs", "list", tenant)] == [job.public_id]
    code, output = sluice("job", "show", tenant, job.public_id)
    assert code == 0 and "succeeded" in output
    assert {lead.status for lead in Lead.select()} == {"assigned"}


def test_by_filters_with_yes_and_none_eligible(sluice, world, unassigned):
    tenant = world.tenant.code
    code, output = sluice("leads", "reprocess", tenant, "--status", "unassigned", "--yes", "--json")
    assert code == 0, output
    body = json.loads(output)
    assert body["breakdown"]["eligible"] == 3 and body["job"]["total"] == 3
    code, output = sluice("worker", "--once")
    assert code == 0 and "0 attempt(s) made, 3 job lead(s) handled" in output
    assert Job.get().status == "done"
    code, output = sluice("leads", "reprocess", tenant, "--status", "unassigned", "--yes")
    assert code == 1 and "none of these leads can be reprocessed" in output
    assert Job.select().count() == 1


def test_a_job_whose_worker_process_is_killed_is_continued_by_another(
    world, seed_lead, db, database_url, monkeypatch, secret_key
):
    from app.store.db import is_postgresql

    if not is_postgresql():
        pytest.skip("PostgreSQL: a killed worker's claim is freed with its session lock")
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    Customer.update(active=False).execute()
    Source.update(rate_limit=100_000).execute()
    db.close()
    for n in range(120):
        phone = f"555-{400 + n // 100}-{n % 100:04d}"
        lead = {**seed_lead, "phone": phone, "email": f"k{n}@example.com"}
        answer = world.post(lead).json
        assert answer.get("status") == "marketplace", answer
    Lead.update(status="unassigned").execute()
    Customer.update(active=True).execute()
    refs = [lead.public_id for lead in Lead.select().order_by(Lead.id)]
    job = reprocess.start_reprocess(operator_actor(world.tenant.code), refs, test_price_cents=1)
    db.close()
    process = subprocess.Popen(
        [Path(sys.executable).parent / "sluice", "worker", "--concurrency", "2"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while Job.get_by_id(job.id).done < 5 and time.monotonic() < deadline:
            db.close()
            time.sleep(0.01)
    finally:
        process.kill()  # SIGKILL: mid-lead, with its claim held
        process.communicate(timeout=20)
    db.close()
    left = Job.get_by_id(job.id)
    assert 5 <= left.done < 120 and left.status == "running", (left.done, left.status)
    deadline = time.monotonic() + 20
    while Job.get_by_id(job.id).status != "done" and time.monotonic() < deadline:
        Worker().drain()  # once the killed worker's session lock is gone, it takes over
        db.close()
    done = Job.get_by_id(job.id)
    assert (done.status, done.done, done.succeeded + done.skipped) == ("done", 120, 120)
    for lead in Lead.select():
        notes = LeadEvent.select().where(LeadEvent.lead == lead.id, LeadEvent.kind == "reprocessed")
        charges = WalletEntry.select().where(WalletEntry.lead == lead.id).count()
        assert notes.count() == 1 and charges <= 1, lead.public_id
