"""Background jobs: recorded, claimed by a worker, advanced one item at a time.

A job is a list of leads (`lead_ids`) and how many of them are handled (`done`). A worker
claims a job (`claim_job`: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two workers never
take the same one) for a lease, then `advance`s it: each step locks the job's row, handles
`lead_ids[done]` and counts it in the same transaction. A lead's work and its count thus
commit together or not at all: a worker killed mid-step leaves the lead unhandled and
uncounted, and whoever continues the job (its lease ended or, on PostgreSQL, its worker's
session lock is gone) starts from that lead; no lead is handled twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.domain.clock import utcnow
from app.domain.reprocess import DONE, FAILED, QUEUED, RUNNING
from app.store.db import database, execute, is_postgresql, json_param
from app.store.deliveries import JOB_QUEUED, WORKER_LOCK
from app.store.migrations import DELIVERY_CHANNEL
from app.store.models import Job, Tenant
from app.store.secrets import public_id

#: The most per-lead errors a job keeps (its counts say how many there were).
MAX_ERRORS = 50
SUCCEEDED, SKIPPED, FAILED_LEAD = "succeeded", "skipped", "failed"


@dataclass(frozen=True)
class Handled:
    """What became of one lead of a job: succeeded, skipped (with why) or failed (why)."""

    outcome: str
    error: str | None = None
    lead: str | None = None  # the lead's public id, for the job's errors


def create_job(
    tenant: Tenant, kind: str, created_by: str, params: dict[str, Any], lead_ids: Sequence[int]
) -> Job:
    """Record a queued job and wake the idle workers (PostgreSQL: NOTIFY on their channel)."""
    with database.atomic():
        job = Job.create(
            public_id=public_id("job"),
            tenant=tenant,
            kind=kind,
            created_by=created_by,
            params=params,
            lead_ids=list(lead_ids),
            total=len(lead_ids),
            status=QUEUED,
        )
        if is_postgresql():
            execute("SELECT pg_notify(%s, %s)", [DELIVERY_CHANNEL, JOB_QUEUED])
    return job


def get_job(tenant: Tenant, ref: str) -> Job | None:
    """Return the tenant's job with this public id, or None."""
    return Job.select().where(Job.tenant == tenant, Job.public_id == ref).first()


def list_jobs(tenant: Tenant, limit: int = 50, offset: int = 0) -> list[Job]:
    """Return the tenant's jobs, newest first."""
    query = Job.select().where(Job.tenant == tenant)
    return list(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset))


def claim_job(worker_id: int, lease: timedelta) -> Job | None:
    """Claim the oldest job left to do for the worker (queued, or running with a claimant
    gone: its lease ended or, on PostgreSQL, its session lock free), or None."""
    now = utcnow()
    if is_postgresql():
        gone = (
            "NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            f" AND l.classid::bigint = {WORKER_LOCK} AND l.objid::bigint = x.claimed_by_id"
            " AND l.objsubid = 2 AND l.granted)"
        )
        skip = " FOR UPDATE SKIP LOCKED"
    else:
        gone, skip = "1 = 1", ""  # SQLite runs one worker at a time
    chosen = (
        f"SELECT x.id FROM job x WHERE x.status IN ('{QUEUED}', '{RUNNING}')"
        " AND (x.claimed_by_id IS NULL OR x.claimed_by_id = %s OR x.claimed_until < %s"
        f" OR {gone}) ORDER BY x.created_at, x.id LIMIT 1{skip}"
    )
    with database.atomic():
        row = execute(
            f"UPDATE job SET status = '{RUNNING}', claimed_by_id = %s, claimed_until = %s,"
            f" started_at = COALESCE(started_at, %s) WHERE id = ({chosen}) RETURNING id",
            [worker_id, now + lease, now, worker_id, now],
        ).fetchone()
    return Job.get_by_id(row[0]) if row else None


def advance(
    job: Job, worker_id: int, lease: timedelta, handle: Callable[[int], Handled]
) -> tuple[bool, bool]:
    """Handle the job's next lead with `handle` and count it, in one transaction under the
    job's row lock; finish the job after its last lead. Return (a lead was handled, more
    are left for this worker): none are when the job is finished or another worker claimed
    it meanwhile.

    `handle` runs inside the transaction: what it writes commits with the count.
    """
    lock = " FOR UPDATE" if is_postgresql() else ""  # SQLite: the transaction locks it all
    with database.atomic():
        row = execute(
            f"SELECT done, total FROM job WHERE id = %s AND claimed_by_id = %s"
            f" AND status = '{RUNNING}'{lock}",
            [job.id, worker_id],
        ).fetchone()
        if row is None:
            return False, False
        done, total = row
        if done >= total:
            _finish(job.id)
            return False, False
        handled = handle(job.lead_ids[done])
        counter = {SUCCEEDED: "succeeded", SKIPPED: "skipped", FAILED_LEAD: "failed"}
        column = counter[handled.outcome]
        sets = f"done = done + 1, {column} = {column} + 1, claimed_until = %s"
        params: list[Any] = [utcnow() + lease]
        if handled.error is not None:
            errors = execute("SELECT errors FROM job WHERE id = %s", [job.id]).fetchone()[0]
            errors = Job._meta.fields["errors"].python_value(errors) or []
            if len(errors) < MAX_ERRORS:
                entry = {"lead": handled.lead, "outcome": handled.outcome, "error": handled.error}
                errors.append(entry)
                mark, value = json_param(errors)
                sets += f", errors = {mark}"
                params.append(value)
        execute(f"UPDATE job SET {sets} WHERE id = %s", [*params, job.id])
        if done + 1 >= total:
            _finish(job.id)
            return True, False
    return True, True


def _finish(job_id: int) -> None:
    """Mark a job whose every lead was handled: done, or failed if every lead failed."""
    execute(
        f"UPDATE job SET status = CASE WHEN failed = total AND total > 0 THEN '{FAILED}'"
        f" ELSE '{DONE}' END, finished_at = %s, claimed_by_id = NULL, claimed_until = NULL"
        " WHERE id = %s",
        [utcnow(), job_id],
    )


def release_job(job: Job, worker_id: int) -> None:
    """Give up the worker's claim on a job (another, or the same later, continues it)."""
    execute(
        "UPDATE job SET claimed_by_id = NULL, claimed_until = NULL"
        " WHERE id = %s AND claimed_by_id = %s",
        [job.id, worker_id],
    )
