"""The delivery outbox: deliveries written with what they tell, claimed and settled by workers.

A routing writes its deliveries in its own transaction (`outbox_statement`, one INSERT ...
SELECT over the tenant's destinations): a sold lead always has its deliveries, and a sale
that rolls back has none. Workers claim due deliveries (`claim_due`: on PostgreSQL
`FOR UPDATE SKIP LOCKED`, so two workers never take the same one), send them outside any
transaction, and settle the attempts that ended (`settle`: their rows and their deliveries'
new states, a batch of attempts in one transaction).

A claim is a lease: the delivery is `sending`, marked with the worker's id, until
`claimed_until`. A worker that dies mid-attempt leaves it so; `release_abandoned`, which
every worker runs every second or so, makes it due again when the lease ends or, on
PostgreSQL, as soon as the dead worker's session lock (held by its listening connection for
its whole life) is gone. The retry keeps the delivery's `webhook-id`: delivery is at least
once. A worker whose lease was taken over records its attempt but leaves the delivery to
the new claimant.
"""

from __future__ import annotations

import fcntl
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

import orjson
import psycopg2

from app.domain.clock import iso_utc, utcnow
from app.domain.delivery import (
    CANCELED,
    DEAD,
    DELIVERED,
    PENDING,
    SENDING,
    SOLD,
    Outbox,
    event_body,
)
from app.domain.errors import UnavailableError
from app.store.db import database, database_file, execute, is_postgresql, json_param, json_text
from app.store.migrations import DELIVERY_CHANNEL
from app.store.models import DeliveryDestination, DeliveryWorker

#: The advisory lock class of workers' session locks (the second key is the worker's id).
WORKER_LOCK = 0x51C6
#: The NOTIFY payload, on the workers' channel, of a queued background job.
JOB_QUEUED = "job"
#: How often an idle worker on SQLite looks for due deliveries (PostgreSQL is woken).
SQLITE_POLL_SECONDS = 0.1


def _public_id() -> str:
    """Return the SQL of a new delivery's public id (msg_ and 32 hex digits)."""
    if is_postgresql():
        return "'msg_' || replace(gen_random_uuid()::text, '-', '')"
    return "'msg_' || lower(hex(randomblob(16)))"


def _subscribed() -> str:
    """Return the SQL telling whether webhook `d` subscribes to the event %s."""
    if is_postgresql():
        return "d.events ? %s"
    return "EXISTS (SELECT 1 FROM json_each(d.events) WHERE json_each.value = %s)"


def outbox_statement(
    tenant_id: int, outbox: Outbox, lead_ref: str, lead_params: list, at: datetime
) -> tuple[str, list] | None:
    """Return the INSERT of an outbox's deliveries and its parameters, or None if it sends
    nothing: the sold lead to each of the buyer's destinations, the event to each of the
    tenant's webhooks that subscribe to it.

    `lead_ref` is the SQL of the lead's id (with `lead_params`): the id itself, or an
    expression of the enclosing statement that inserts the lead. Paused destinations get
    their deliveries too: they wait, pending, until it is resumed.
    """
    if outbox.event is None and outbox.customer_id is None:
        return None
    event_mark, event_json = json_param(outbox.event_payload)
    sale_mark, sale_json = json_param(outbox.sale_payload)
    query = (
        "INSERT INTO delivery (public_id, tenant_id, destination_id, lead_id, event, payload,"
        " status, attempts, tries, next_attempt_at, created_at, updated_at)"
        f" SELECT {_public_id()}, d.tenant_id, d.id, {lead_ref},"
        " CASE WHEN d.customer_id IS NULL THEN %s ELSE %s END,"
        f" CASE WHEN d.customer_id IS NULL THEN {event_mark} ELSE {sale_mark} END,"
        f" '{PENDING}', 0, 0, %s, %s, %s"
        " FROM delivery_destination d"
        " WHERE d.tenant_id = %s AND d.removed_at IS NULL"
        f" AND (d.customer_id = %s OR (d.customer_id IS NULL AND {_subscribed()}))"
    )
    params = [*lead_params, outbox.event, SOLD, event_json, sale_json, at, at, at]
    params += [tenant_id, outbox.customer_id, outbox.event]
    return query, params


def enqueue_event(
    tenant_id: int, event: str, data: dict[str, Any], *, lead_id: int | None = None
) -> None:
    """Write an event's deliveries to the tenant's webhooks subscribed to it, in the
    caller's transaction (its body says it happened now, to the second)."""
    now = utcnow()
    body = event_body(event, data, now.replace(microsecond=0))
    statement = outbox_statement(tenant_id, Outbox(event, body), "%s", [lead_id], now)
    assert statement is not None
    execute(*statement)


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker claimed, with what sending and settling it need."""

    id: int
    public_id: str
    tenant_id: int
    lead_id: int | None
    event: str
    payload: dict[str, Any]
    attempts: int  # including the one being made
    tries: int  # in this round of the schedule, including the one being made
    created_at: datetime
    destination_id: int
    destination_ref: str
    destination_version: datetime  # the destination's updated_at
    customer_id: int | None
    retry_schedule: tuple[int, ...] | None


_CLAIMED = (
    "d.id, d.public_id, d.tenant_id, d.lead_id, d.event, d.payload, d.attempts, d.tries,"
    " d.created_at, d.destination_id, dd.public_id, dd.updated_at, dd.customer_id,"
    " dd.retry_schedule"
)


#: The SQL telling whether delivery `x`'s destination takes deliveries (not paused or
#: removed). A scalar subquery, evaluated for each row read, not a join: the planner then
#: reads the due rows in the order of the (status, next_attempt_at) index and stops at the
#: LIMIT, however stale its statistics (as a join, a queue that grew since the last ANALYZE
#: was read whole, and sorted, for every claim).
_ACTIVE = (
    "(SELECT dd.active AND dd.removed_at IS NULL FROM delivery_destination dd"
    " WHERE dd.id = x.destination_id)"
)


def claim_due(worker_id: int, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due deliveries of active destinations for the worker, oldest due
    first (what a gone worker left `sending` is made due again by `release_abandoned`).

    The due rows are read in the order of the (status, next_attempt_at) index and the read
    stops at `limit`, however long the queue (see `_ACTIVE`). On PostgreSQL one statement
    (its own transaction, one round trip) locks them `FOR UPDATE SKIP LOCKED`, so that two
    workers never take the same one, marks them and returns them with their destinations.
    """
    now = utcnow()
    chosen = (
        f"SELECT x.id FROM delivery x WHERE x.status = '{PENDING}' AND x.next_attempt_at <= %s"
        f" AND {_ACTIVE} ORDER BY x.next_attempt_at LIMIT %s"
    )
    mark = (
        f"UPDATE delivery SET status = '{SENDING}', claimed_by_id = %s, claimed_until = %s,"
        " attempts = attempts + 1, tries = tries + 1, updated_at = %s"
    )
    if is_postgresql():
        rows = execute(
            f"WITH chosen AS ({chosen} FOR UPDATE OF x SKIP LOCKED),"
            f" moved AS ({mark} FROM chosen WHERE delivery.id = chosen.id RETURNING delivery.*)"
            f" SELECT {_CLAIMED} FROM moved d"
            " JOIN delivery_destination dd ON dd.id = d.destination_id"
            " ORDER BY d.next_attempt_at",
            [now, limit, worker_id, now + lease, now],
        ).fetchall()
        return [_claimed(row) for row in rows]
    with database.atomic():  # SQLite: one writer at a time
        ids = [
            row[0]
            for row in execute(
                f"{mark} WHERE id IN ({chosen}) RETURNING id",
                [worker_id, now + lease, now, now, limit],
            ).fetchall()
        ]
        if not ids:
            return []
        rows = execute(
            f"SELECT {_CLAIMED} FROM delivery d"
            " JOIN delivery_destination dd ON dd.id = d.destination_id"
            f" WHERE d.id IN ({', '.join(['%s'] * len(ids))}) ORDER BY d.next_attempt_at",
            ids,
        ).fetchall()
    return [_claimed(row) for row in rows]


def _claimed(row: tuple) -> Claimed:
    payload, schedule = row[5], row[13]
    if isinstance(payload, str):  # SQLite's JSON is text
        payload = orjson.loads(payload)
    if isinstance(schedule, str):
        schedule = orjson.loads(schedule)
    return Claimed(
        id=row[0],
        public_id=row[1],
        tenant_id=row[2],
        lead_id=row[3],
        event=row[4],
        payload=payload,
        attempts=row[6],
        tries=row[7],
        created_at=_time(row[8]),
        destination_id=row[9],
        destination_ref=row[10],
        destination_version=_time(row[11]),
        customer_id=row[12],
        retry_schedule=tuple(schedule) if schedule else None,
    )


def _time(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite
        return datetime.fromisoformat(value)
    return value


def next_due_at() -> datetime | None:
    """Return when the next pending delivery of an active destination is due, if any."""
    row = execute(
        f"SELECT x.next_attempt_at FROM delivery x WHERE x.status = '{PENDING}' AND {_ACTIVE}"
        " ORDER BY x.next_attempt_at LIMIT 1"
    ).fetchone()
    return _time(row[0]) if row else None


def destination_row(destination_id: int) -> DeliveryDestination:
    """Return a destination's row (the worker turns it into the sender's Destination)."""
    return DeliveryDestination.get_by_id(destination_id)


@dataclass(frozen=True)
class PausePolicy:
    """When a failing destination is paused: after `failures` failed attempts in a row,
    the first of them at least `after` ago (docs/delivery.md)."""

    failures: int = 20
    after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Settled:
    """What settling an attempt did."""

    status: str  # the delivery's status now (unchanged if the lease was lost)
    lease_lost: bool = False
    paused: bool = False


@dataclass(frozen=True)
class Settlement:
    """One finished attempt of a claimed delivery, to record and settle."""

    claimed: Claimed
    started_at: datetime
    duration_ms: float
    outcome: str  # delivered | retry | failed
    status_code: int | None = None
    answer: str = ""
    error: str | None = None
    next_attempt_at: datetime | None = None  # a retry's time; None: no attempt is left


def settle(worker_id: int, settlements: Sequence[Settlement], policy: PausePolicy) -> list[Settled]:
    """Record attempts and settle their deliveries, all in one transaction: each delivered,
    pending again at its `next_attempt_at`, or dead (no attempt left, or failed for good);
    keep the destinations' failure streaks in the attempts' order, pausing one per
    `policy`, and tell the lead's timeline and the tenant's webhooks what became of a
    buyer's delivery. A delivery whose claim was taken over is left to its new claimant,
    its attempt recorded all the same. Answers what became of each, in order."""
    now = utcnow()
    if is_postgresql() and all(s.outcome == "delivered" for s in settlements):
        return _settle_delivered(worker_id, settlements, now)
    with database.atomic():
        return [_settle_one(worker_id, settlement, now, policy) for settlement in settlements]


def _settle_one(
    worker_id: int, settlement: Settlement, now: datetime, policy: PausePolicy
) -> Settled:
    claimed, outcome = settlement.claimed, settlement.outcome
    if outcome == "delivered":
        status, delivered_at = DELIVERED, now
    elif outcome == "retry" and settlement.next_attempt_at is not None:
        status, delivered_at = PENDING, None
    else:
        status, delivered_at = DEAD, None
    execute(
        "INSERT INTO delivery_attempt (delivery_id, number, worker, started_at, duration_ms,"
        " outcome, status_code, answer, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [claimed.id, claimed.attempts, worker_id, settlement.started_at, settlement.duration_ms]
        + [outcome, settlement.status_code, settlement.answer, settlement.error],
    )
    moved = execute(
        "UPDATE delivery SET status = %s, next_attempt_at = COALESCE(%s, next_attempt_at),"
        " claimed_by_id = NULL, claimed_until = NULL, last_status_code = %s,"
        " last_error = %s, delivered_at = %s, updated_at = %s"
        f" WHERE id = %s AND claimed_by_id = %s AND status = '{SENDING}' RETURNING id",
        [status, settlement.next_attempt_at, settlement.status_code, settlement.error]
        + [delivered_at, now, claimed.id, worker_id],
    ).fetchall()
    if not moved:
        return Settled(status=SENDING, lease_lost=True)
    paused = _count_streak(claimed, outcome == "delivered", now, policy)
    if claimed.customer_id is not None and claimed.lead_id is not None:
        _tell_lead(claimed, status, settlement.status_code, settlement.error, now)
    return Settled(status=status, paused=paused)


#: A row of `_settle_delivered`'s values: the delivery, its attempt, its timeline entry.
_DELIVERED_ROW = (
    "(%s::bigint, %s::integer, %s::timestamp, %s::float8, %s::integer, %s::text,"
    " %s::bigint, %s::text, %s::jsonb)"
)


def _settle_delivered(
    worker_id: int, settlements: Sequence[Settlement], now: datetime
) -> list[Settled]:
    """Settle delivered attempts (PostgreSQL) in one statement, its own transaction: the
    common case in one round trip, however many attempts. As `_settle_one` does for each:
    the attempt rows, the deliveries delivered where the claim is still this worker's, the
    failure streaks of their destinations ended, and the buyers' deliveries on the leads'
    timelines."""
    rows, params = [], []
    for settlement in settlements:
        claimed = settlement.claimed
        told = claimed.customer_id is not None and claimed.lead_id is not None
        message, details = _timeline_entry(claimed, DELIVERED, None) if told else (None, None)
        rows.append(_DELIVERED_ROW)
        params += [claimed.id, claimed.attempts, settlement.started_at, settlement.duration_ms]
        params += [settlement.status_code, settlement.answer]
        params += [claimed.lead_id if told else None, message, json_text(details) if told else None]
    moved = {
        row[0]
        for row in execute(
            "WITH v (id, number, started_at, duration_ms, status_code, answer, lead_id, message,"
            f" details) AS (VALUES {', '.join(rows)}),"
            f" moved AS (UPDATE delivery d SET status = '{DELIVERED}', claimed_by_id = NULL,"
            " claimed_until = NULL, last_status_code = v.status_code, last_error = NULL,"
            " delivered_at = %s, updated_at = %s FROM v"
            f" WHERE d.id = v.id AND d.claimed_by_id = %s AND d.status = '{SENDING}'"
            " RETURNING d.id, d.destination_id),"
            " attempts AS (INSERT INTO delivery_attempt (delivery_id, number, worker,"
            " started_at, duration_ms, outcome, status_code, answer)"
            " SELECT id, number, %s, started_at, duration_ms, 'delivered', status_code, answer"
            " FROM v),"
            " streaks AS (UPDATE delivery_destination SET failures = 0, failing_since = NULL"
            " WHERE id IN (SELECT destination_id FROM moved) AND failures > 0),"
            " timeline AS (INSERT INTO lead_event (lead_id, at, kind, message, details)"
            " SELECT v.lead_id, %s, 'delivered', v.message, v.details FROM v"
            " JOIN moved ON moved.id = v.id WHERE v.lead_id IS NOT NULL)"
            " SELECT id FROM moved",
            [*params, now, now, worker_id, worker_id, now],
        ).fetchall()
    }
    return [
        Settled(status=DELIVERED) if s.claimed.id in moved else Settled(SENDING, lease_lost=True)
        for s in settlements
    ]


def _count_streak(claimed: Claimed, delivered: bool, now: datetime, policy: PausePolicy) -> bool:
    """Keep the destination's failure streak; pause it when the policy says; True if paused."""
    if delivered:
        execute(
            "UPDATE delivery_destination SET failures = 0, failing_since = NULL"
            " WHERE id = %s AND failures > 0",
            [claimed.destination_id],
        )
        return False
    row = execute(
        "UPDATE delivery_destination SET failures = failures + 1,"
        " failing_since = COALESCE(failing_since, %s) WHERE id = %s"
        " RETURNING failures, failing_since, active, name, public_id, customer_id",
        [now, claimed.destination_id],
    ).fetchone()
    failures, since, active = row[0], _time(row[1]), row[2]
    if not active or failures < policy.failures or now - since < policy.after:
        return False
    reason = (
        f"paused automatically: {failures} failed attempts in a row"
        f" since {iso_utc(since.replace(microsecond=0))}"
    )
    execute(
        "UPDATE delivery_destination SET active = %s, paused_at = %s, paused_reason = %s,"
        " updated_at = %s WHERE id = %s",
        [False, now, reason, now, claimed.destination_id],
    )
    customer = _customer_ref(row[5])
    destination = {
        "id": row[4],
        "name": row[3],
        "customer": customer,
        "failures": failures,
        "failing_since": iso_utc(since.replace(microsecond=0)),
        "reason": reason,
    }
    enqueue_event(claimed.tenant_id, "destination.paused", {"destination": destination})
    return True


def _tell_lead(
    claimed: Claimed, status: str, status_code: int | None, error: str | None, now: datetime
) -> None:
    """Put a buyer's delivery on its lead's timeline once settled for good; a dead one also
    sends `delivery.failed` to the tenant's webhooks."""
    if status not in (DELIVERED, DEAD):
        return
    message, details = _timeline_entry(claimed, status, error)
    kind = "delivered" if status == DELIVERED else "delivery_failed"
    mark, value = json_param(details)
    execute(
        f"INSERT INTO lead_event (lead_id, at, kind, message, details) VALUES (%s, %s, %s, %s,"
        f" {mark})",
        [claimed.lead_id, now, kind, message, value],
    )
    if status == DEAD:
        lead = execute("SELECT public_id FROM lead WHERE id = %s", [claimed.lead_id]).fetchone()
        data = {
            "delivery": {
                "id": claimed.public_id,
                "event": claimed.event,
                "destination": claimed.destination_ref,
                "customer": _customer_ref(claimed.customer_id),
                "lead": lead[0] if lead else None,
                "attempts": claimed.attempts,
                "last_status_code": status_code,
                "last_error": error,
            }
        }
        enqueue_event(claimed.tenant_id, "delivery.failed", data, lead_id=claimed.lead_id)


def _timeline_entry(claimed: Claimed, status: str, error: str | None) -> tuple[str, dict[str, Any]]:
    """Return the message and details of a buyer's delivery settled for good, for its
    lead's timeline (delivered, or delivery_failed when dead)."""
    details: dict[str, Any] = {
        "delivery": claimed.public_id,
        "destination": claimed.destination_ref,
        "attempts": claimed.attempts,
        "url": f"/api/admin/deliveries/{claimed.public_id}",
    }
    if status == DELIVERED:
        return f"Delivered to destination {claimed.destination_ref}.", details
    details["error"] = error
    return (
        f"Delivery to destination {claimed.destination_ref} failed after"
        f" {claimed.attempts} attempt(s): {error or 'no answer'}."
    ), details


def _customer_ref(customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    row = execute("SELECT public_id FROM customer WHERE id = %s", [customer_id]).fetchone()
    return row[0] if row else None


# Workers


def register_worker(host: str, pid: int) -> int:
    """Record a starting worker; return its id."""
    return DeliveryWorker.create(host=host, pid=pid).id


def stop_worker(worker_id: int) -> None:
    """Record that a worker stopped."""
    DeliveryWorker.update(stopped_at=utcnow()).where(DeliveryWorker.id == worker_id).execute()


def release_abandoned(worker_id: int) -> int:
    """Make due again the deliveries whose claimant is gone; return how many.

    A claim is abandoned when its lease ended or, on PostgreSQL, when its worker's session
    lock is free: the worker's listening connection closed (it stopped, or was killed). On
    SQLite, where one worker runs at a time, every other worker's claims are abandoned.
    """
    if is_postgresql():
        gone = (
            "NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            f" AND l.classid::bigint = {WORKER_LOCK} AND l.objid::bigint = x.claimed_by_id"
            " AND l.objsubid = 2 AND l.granted)"
        )
    else:
        gone = "1 = 1"
    return execute(
        f"UPDATE delivery AS x SET status = '{PENDING}', claimed_by_id = NULL,"
        f" claimed_until = NULL WHERE x.status = '{SENDING}' AND (x.claimed_until < %s"
        f" OR x.claimed_by_id IS NULL OR (x.claimed_by_id <> %s AND {gone}))",
        [utcnow(), worker_id],
    ).rowcount


def cancel_orphaned() -> int:
    """Cancel the pending deliveries of removed destinations; return how many.

    A removal cancels its destination's pending deliveries, but a sale that read the
    destination before the removal committed may write one just after: no worker sends
    it (`claim_due` takes active destinations only), so the worker's housekeeping cancels
    it here, as the removal would have.
    """
    return execute(
        f"UPDATE delivery SET status = '{CANCELED}', updated_at = %s WHERE status = '{PENDING}'"
        " AND destination_id IN (SELECT id FROM delivery_destination"
        " WHERE removed_at IS NOT NULL)",
        [utcnow()],
    ).rowcount


class WorkerRunning(UnavailableError):
    """Another worker already runs on this SQLite database."""


class Waker:
    """What an idle worker waits on: on PostgreSQL a connection of its own that LISTENs for
    due deliveries and holds the worker's session lock for its life; on SQLite a short poll,
    and a lock file beside the database that keeps a second worker from starting."""

    def __init__(self, worker_id: int) -> None:
        self.connection = None
        self.job_queued = False  # a NOTIFY said a background job was queued
        self.lock_file: IO[bytes] | None = None
        if not is_postgresql():
            path = database_file()
            if path is not None:
                self.lock_file = open(path + ".worker-lock", "wb")  # noqa: SIM115 (held open)
                try:
                    fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self.lock_file.close()
                    raise WorkerRunning(
                        "a delivery worker already runs on this SQLite database"
                        " (SQLite runs one; PostgreSQL runs any number)"
                    ) from None
        else:
            self.worker_id = worker_id
            self._listen()

    def _listen(self) -> None:
        """Open the listening connection and take the worker's session lock on it."""
        db = database.obj
        self.connection = psycopg2.connect(database=db.database, **db.connect_params)
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute(f"LISTEN {DELIVERY_CHANNEL}")
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", (WORKER_LOCK, self.worker_id))

    def reconnect(self) -> None:
        """Listen again on a new connection (PostgreSQL), after the database dropped the
        old one; the worker's lock is taken again with it."""
        if self.connection is None:
            return
        try:
            self.connection.close()
        except psycopg2.Error:
            pass
        self._listen()

    def wait(self, seconds: float, bell: socket.socket | None = None) -> bool:
        """Wait up to `seconds` for a delivery to become due, or for `bell` to be readable
        (the worker's threads ring it when an attempt ends); True if told one became due."""
        others = [bell] if bell is not None else []
        if self.connection is None:
            seconds = max(0.0, min(seconds, SQLITE_POLL_SECONDS))
            if others:
                select.select(others, [], [], seconds)
            else:
                time.sleep(seconds)
            return False
        if not self.connection.notifies:
            select.select([self.connection, *others], [], [], max(0.0, seconds))
            self.connection.poll()
        woken = bool(self.connection.notifies)
        if any(notify.payload == JOB_QUEUED for notify in self.connection.notifies):
            self.job_queued = True  # app/store/jobs.py `create_job`
        self.connection.notifies.clear()
        return woken

    def close(self) -> None:
        """Close the connection, releasing the worker's session lock (or the lock file).

        The lock is released explicitly first: a closed connection's server process lets
        go of its locks only as it exits, a moment later, and until then another worker
        would still see this one alive.
        """
        if self.connection is not None:
            try:
                with self.connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_unlock(%s, %s)", (WORKER_LOCK, self.worker_id)
                    )
            except psycopg2.Error:  # the connection is gone already: so is its lock
                pass
            self.connection.close()
            self.connection = None
        if self.lock_file is not None:
            self.lock_file.close()  # releases the flock
            self.lock_file = None
