"""Reprocessing: one lead now or many as a job, from a chosen stage; who is eligible and why
not; a job run by the delivery worker, each lead once, even when a worker dies."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.domain.delivery import Attempt
from app.domain.errors import ConflictError, InvalidError, NotFoundError
from app.domain.reprocess import eligibility
from app.domain.review import APPROVED, REVIEW_KINDS
from app.services import deletion, leads, reprocess, review
from app.services.actor import operator_actor
from app.services.leads import LeadFilter
from app.services.worker import Worker, WorkerSettings
from app.store import deliveries as delivery_store
from app.store.customers import deposit
from app.store.db import is_postgresql
from app.store.models import Customer, Job, Lead, LeadEvent, WalletEntry
from app.store.rules import push_rules
from tests.delivery_rows import delivery_row, destination_row
from tests.security.endpoints import database_snapshot

BIDDING_ONLY = "stage bidding highest_price"
PRICE = 4500


@pytest.fixture
def broke(make_world, home_rules):
    """A tenant on the home rules (bidding only) whose customers have no money: its roof
    leads stay unassigned."""
    return make_world(
        home_rules(plan=BIDDING_ONLY), {"alpha": "0", "beta": "0", "gamma": "0"}, name="H"
    )


@pytest.fixture
def operator(broke, db):
    return operator_actor(broke.tenant.code)


@pytest.fixture
def unsold(broke, home_lead):
    """Return post(n, **fields) -> the public id of a new lead, asserting its status."""

    def post(n: int, status: str = "unassigned", **fields) -> str:
        body = broke.post(home_lead(n, **fields)).json
        assert body["status"] == status, body
        return body["lead_public_id"]

    return post


def fund(slug: str = "alpha", dollars: int = 100) -> None:
    deposit(Customer.get(Customer.slug == slug), dollars * 100)


def with_marketplace(world, home_rules) -> None:
    push_rules(world.tenant, {"test.rules": home_rules()}, by="tests")


def reprocessed(ref: str) -> list[LeadEvent]:
    lead = Lead.get(Lead.public_id == ref)
    return list(
        LeadEvent.select().where(LeadEvent.lead == lead.id, LeadEvent.kind == "reprocessed")
    )


def charges(ref: str) -> int:
    lead = Lead.get(Lead.public_id == ref)
    return WalletEntry.select().where(WalletEntry.lead == lead.id).count()


KINDS = ("bidding", "marketplace")


@pytest.mark.parametrize(
    "status, deleted, review_, kinds, start, eligible, reason",
    [
        ("unassigned", False, None, KINDS, "bidding", True, None),
        ("uncategorized", False, None, KINDS, "bidding", True, None),
        ("pending", False, None, KINDS, "bidding", True, None),
        ("distribution_error", False, None, KINDS, "marketplace", True, None),
        ("audit", False, "approved", KINDS, "bidding", True, None),
        ("unassigned", False, "approved", KINDS, "bidding", True, None),
        ("audit", False, None, KINDS, "bidding", False, "held for audit"),
        ("audit", False, "rejected", KINDS, "bidding", False, "rejected"),
        ("unassigned", True, None, KINDS, "bidding", False, "deleted"),
        ("assigned", False, None, KINDS, "bidding", False, "assigned: only"),
        ("marketplace", False, None, KINDS, "bidding", False, "marketplace: only"),
        ("duplicate", False, None, KINDS, "bidding", False, "duplicate: only"),
        ("returned", False, None, KINDS, "bidding", False, "returned: only"),
        ("posted", False, None, KINDS, "bidding", False, "posted: only"),
        ("withheld", False, None, KINDS, "bidding", False, "withheld: only"),
        ("unassigned", False, None, None, "bidding", False, "no active rules"),
        ("unassigned", False, None, ("bidding",), "marketplace", False, "no marketplace stage"),
        ("unassigned", False, None, (), "bidding", True, None),
    ],
)
def test_who_may_be_reprocessed(status, deleted, review_, kinds, start, eligible, reason):
    verdict = eligibility(status, deleted=deleted, review=review_, stage_kinds=kinds, start=start)
    assert verdict.eligible is eligible
    if reason is None:
        assert verdict.reason is None
    else:
        assert reason in verdict.reason
    assert verdict.approved is (eligible and review_ == "approved")


def test_a_lead_reprocessed_from_bidding_is_sold_and_charged_once(operator, unsold):
    ref = unsold(1)
    fund()
    done = leads.reprocess_lead(operator, ref, test_price_cents=PRICE)
    assert (done.status, done.bid_id) == ("assigned", "alpha_roof")
    assert charges(ref) == 1
    notes = reprocessed(ref)
    assert [n.message for n in notes] == [f"Reprocessed by {operator.name}."]
    assert notes[0].details == {"by": operator.name, "from": "bidding"}
    with pytest.raises(ConflictError, match="cannot be reprocessed: assigned"):
        leads.reprocess_lead(operator, ref, test_price_cents=PRICE)


def test_from_the_marketplace_a_lead_goes_there_unsold(broke, operator, unsold, home_rules):
    ref = unsold(1)
    with_marketplace(broke, home_rules)
    fund()  # bidding would sell it: the marketplace start skips it
    done = leads.reprocess_lead(operator, ref, start="marketplace", test_price_cents=PRICE)
    assert (done.status, done.customer_id, done.price_cents) == ("marketplace", None, 0)
    assert charges(ref) == 0
    kinds = [event.kind for event in done.timeline]
    assert kinds[kinds.index("reprocessed") :] == ["reprocessed", "classified", "marketplace"]
    assert reprocessed(ref)[0].message == f"Reprocessed by {operator.name}, from stage marketplace."


def test_a_plan_without_a_marketplace_cannot_be_started_there(operator, unsold):
    ref = unsold(1)
    with pytest.raises(ConflictError, match="its plan has no marketplace stage"):
        leads.reprocess_lead(operator, ref, start="marketplace", test_price_cents=PRICE)
    assert Lead.get(Lead.public_id == ref).status == "unassigned"


def test_an_unknown_stage_is_refused_with_the_choices(operator, unsold):
    ref = unsold(1)
    for call in (
        lambda: leads.reprocess_lead(operator, ref, start="ping", test_price_cents=PRICE),
        lambda: reprocess.plan_reprocess(operator, [ref], start="ping"),
    ):
        with pytest.raises(InvalidError) as caught:
            call()
        choices = "one of bidding, enrich, ping_post, post, marketplace"
        assert caught.value.details == {"from": [choices]}


def test_an_approved_lead_keeps_its_audits_skipped_when_reprocessed(operator, unsold):
    ref = unsold(1, status="audit", first_name="Test")  # the "Test name" audit
    assert review.approve_lead(operator, ref).status == "unassigned"  # no money yet
    fund()
    done = leads.reprocess_lead(operator, ref, test_price_cents=PRICE)
    assert done.status == "assigned"  # not held for audit again
    assert [e.kind for e in done.timeline].count("audit") == 1


def test_an_approved_audit_still_held_is_routed_and_a_rejected_one_never(operator, unsold):
    fund()
    approved, rejected = (unsold(n, status="audit", first_name="Test") for n in (1, 2))
    # An approval recorded without its routing (the lead still held for audit).
    LeadEvent.create(
        lead=Lead.get(Lead.public_id == approved).id,
        kind=REVIEW_KINDS[APPROVED],
        message="Approved by someone.",
        details={"by": "someone", "note": None},
    )
    review.reject_lead(operator, rejected, note="Fake")
    breakdown = reprocess.plan_reprocess(operator, [approved, rejected])
    assert [(lead.id, lead.eligible) for lead in breakdown.leads] == [
        (approved, True),
        (rejected, False),
    ]
    assert "rejected" in breakdown.leads[1].reason
    done = leads.reprocess_lead(operator, approved, test_price_cents=PRICE)
    assert done.status == "assigned" and charges(approved) == 1
    with pytest.raises(ConflictError, match="rejected"):
        leads.reprocess_lead(operator, rejected, test_price_cents=PRICE)
    assert Lead.get(Lead.public_id == rejected).status == "audit"


def test_the_breakdown_says_who_and_why_and_writes_nothing(operator, unsold):
    first, second, gone = unsold(1), unsold(2), unsold(4)
    held = unsold(3, "audit", first_name="Test")
    deletion.delete_leads(operator, [gone])
    fund()
    sold = unsold(5, "assigned")
    before = database_snapshot()
    breakdown = reprocess.plan_reprocess(operator, [first, second, held, gone, sold, first])
    assert database_snapshot() == before
    assert (breakdown.start, breakdown.eligible, breakdown.ineligible) == ("bidding", 2, 3)
    assert [(lead.id, lead.status, lead.eligible) for lead in breakdown.leads] == [
        (first, "unassigned", True),
        (second, "unassigned", True),
        (held, "audit", False),
        (gone, "unassigned", False),
        (sold, "assigned", False),
    ]
    assert set(breakdown.reasons) == {lead.reason for lead in breakdown.leads[2:]}
    by_filter = reprocess.plan_reprocess(operator, filters=LeadFilter(status="unassigned"))
    assert [lead.id for lead in by_filter.leads] == [first, second, gone]  # oldest first
    with pytest.raises(NotFoundError, match="lead_nobody"):
        reprocess.plan_reprocess(operator, [first, "lead_nobody"])
    with pytest.raises(InvalidError):
        reprocess.plan_reprocess(operator)  # neither leads nor filters


def test_a_bulk_reprocess_is_a_job_the_worker_runs_to_completion(operator, unsold, db):
    refs = [unsold(n) for n in range(1, 6)]
    fund(dollars=1000)
    job = reprocess.start_reprocess(
        operator, refs + [unsold(6, "audit", first_name="Test")], test_price_cents=PRICE
    )
    assert (job.status, job.total, job.done, job.kind) == ("queued", 5, 0, "reprocess")
    assert job.public_id.startswith("job_") and job.params["from"] == "bidding"
    assert job.params["ineligible"] == 1
    deletion.delete_leads(operator, [refs[2]])  # no longer eligible at its turn
    assert Worker().drain() == 0  # no delivery attempt: the job is not a delivery
    job = reprocess.show_job(operator, job.public_id)
    assert (job.status, job.done, job.succeeded, job.skipped, job.failed) == ("done", 5, 4, 1, 0)
    assert job.started_at is not None and job.finished_at is not None
    assert job.errors == [{"lead": refs[2], "outcome": "skipped", "error": "it was deleted"}]
    for ref in refs:
        expected = 0 if ref == refs[2] else 1
        assert (len(reprocessed(ref)), charges(ref)) == (expected, expected), ref
    assert [j.public_id for j in reprocess.list_jobs(operator)] == [job.public_id]
    assert "(job " in reprocessed(refs[0])[0].message


def test_a_bulk_reprocess_with_none_eligible_is_refused(operator, unsold):
    fund()
    sold = unsold(1, "assigned")
    with pytest.raises(ConflictError, match="none of these leads"):
        reprocess.start_reprocess(operator, [sold], test_price_cents=PRICE)
    assert Job.select().count() == 0
    with pytest.raises(NotFoundError):
        reprocess.show_job(operator, "job_nobody")


def test_a_job_runs_a_slice_at_a_time_until_done(operator, unsold):
    refs = [unsold(n) for n in range(1, 4)]
    fund(dollars=1000)
    job = reprocess.start_reprocess(operator, refs, test_price_cents=PRICE)
    worker = Worker(WorkerSettings(job_batch=1))
    worker.drain()
    assert Job.get_by_id(job.id).status == "done" and worker.job_leads == 3


def test_a_job_waits_for_the_due_deliveries_to_be_sent(broke, operator, unsold, secret_key, db):
    refs = [unsold(n) for n in range(1, 3)]
    fund()
    webhook = destination_row(broke.tenant)
    due = {delivery_row(webhook, status="pending").public_id for _ in range(2)}
    job = reprocess.start_reprocess(operator, refs, test_price_cents=PRICE)
    sent: list[tuple[str, int]] = []

    def send(destination, message, client):
        # What the job did by the time each delivery is sent: nothing yet.
        sent.append((message.id, Job.get_by_id(job.id).done))
        return Attempt("delivered", 1.0, 200)

    Worker(WorkerSettings(concurrency=1, job_slice=60.0), send=send).drain()
    assert {message for message, _ in sent[:2]} == due
    # The deliveries due were sent before the job began; then its sales' lead.sold.
    assert [done for _, done in sent] == [0, 0, 2, 2]
    assert Job.get_by_id(job.id).status == "done"


def _pg_only():
    if not is_postgresql():
        pytest.skip("workers race only on PostgreSQL (SQLite runs one worker at a time)")


def test_two_workers_reprocess_each_lead_of_a_job_once(operator, unsold, db):
    _pg_only()
    refs = [unsold(n) for n in range(1, 31)]
    fund(dollars=10_000)
    fund("beta", 10_000)
    job = reprocess.start_reprocess(operator, refs, test_price_cents=PRICE)
    db.close()
    # A lease of zero: each worker may take the job over from the other at any lead.
    settings = WorkerSettings(job_batch=3, job_lease=timedelta(0), idle_wait=0.0)
    workers = [Worker(settings), Worker(settings)]
    errors: list[BaseException] = []

    def run(worker: Worker) -> None:
        try:
            for _ in range(2000):
                worker.drain()
                if Job.get_by_id(job.id).status == "done":
                    return
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    done = Job.get_by_id(job.id)
    assert (done.status, done.done, done.succeeded) == ("done", 30, 30)
    for ref in refs:
        assert (len(reprocessed(ref)), charges(ref)) == (1, 1), ref
    assert sum(w.job_leads for w in workers) == 30


def test_a_job_left_by_a_killed_worker_is_continued_where_it_stopped(operator, unsold, db):
    _pg_only()
    refs = [unsold(n) for n in range(1, 9)]
    fund(dollars=1000)
    job = reprocess.start_reprocess(operator, refs, test_price_cents=PRICE)
    # A worker claims the job and handles three leads, then dies: its listening connection,
    # which holds its session lock, goes with it; its claim's lease has not ended.
    dead = delivery_store.register_worker("gone-host", 1)
    waker = delivery_store.Waker(dead)
    lease = timedelta(hours=1)
    claimed = reprocess.claim_job(dead, lease)
    assert claimed is not None and claimed.id == job.id
    for _ in range(3):
        assert reprocess.advance_job(claimed, dead, lease) == (True, True)
    waker.close()
    assert Job.get_by_id(job.id).claimed_by_id == dead
    Worker().drain()
    done = Job.get_by_id(job.id)
    assert (done.status, done.done, done.succeeded) == ("done", 8, 8)
    for ref in refs:
        assert (len(reprocessed(ref)), charges(ref)) == (1, 1), ref
    assert [n.details["from"] for n in reprocessed(refs[0])] == ["bidding"]


def test_a_live_worker_keeps_its_job(operator, unsold, db):
    _pg_only()
    refs = [unsold(n) for n in range(1, 4)]
    job = reprocess.start_reprocess(operator, refs, test_price_cents=PRICE)
    alive = delivery_store.register_worker("busy-host", 2)
    waker = delivery_store.Waker(alive)
    try:
        assert reprocess.claim_job(alive, timedelta(hours=1)).id == job.id
        other = delivery_store.register_worker("other-host", 3)
        assert reprocess.claim_job(other, timedelta(hours=1)) is None
    finally:
        waker.close()
    assert Job.get_by_id(job.id).claimed_by_id == alive
