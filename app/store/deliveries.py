"""The delivery outbox: deliveries written with what they tell, claimed and settled by workers.

A routing writes its deliveries in its own transaction (`outbox_statement`, one INSERT ...
SELECT over the tenant's destinations): a sold lead always has its deliveries, and a sale
that rolls back has none. Workers claim due deliveries (`claim_due`: on PostgreSQL
`FOR UPDATE SKIP LOCKED`, so two workers never take the same one), send them outside any
transaction, and settle each attempt in one transaction (`settle`).

A claim is a lease: the delivery is `sending`, marked with the worker's id, until
`claimed_until`. A worker that dies mid-attempt leaves it so; another worker takes it again
when the lease ends or, on PostgreSQL, at once when the dead worker's session lock (held by
its listening connection for its whole life) is gone. The retry keeps the delivery's
`webhook-id`: delivery is at least once. A worker whose lease was taken over records its
attempt but leaves the delivery to the new claimant.
"""

from __future__ import annotations

import fcntl
import select
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

import orjson
import psycopg2

from app.domain.clock import utcnow
from app.domain.delivery import DEAD, DELIVERED, PENDING, SENDING, SOLD, Outbox
from app.domain.errors import UnavailableError
from app.store.db import database, database_file, execute, is_postgresql, json_param
from app.store.migrations import DELIVERY_CHANNEL
from app.store.models import DeliveryDestination, DeliveryWorker

#: The advisory lock class of workers' session locks (the second key is the worker's id).
WORKER_LOCK = 0x51C6
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
    tenant_id: int, event: str, payload: dict[str, Any], *, lead_id: int | None = None
) -> None:
    """Write an event's deliveries to the tenant's webhooks subscribed to it, in the
    caller's transaction."""
    statement = outbox_statement(tenant_id, Outbox(event, payload), "%s", [lead_id], utcnow())
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


def _abandoned() -> str:
    """Return the SQL telling whether claimed delivery `x`'s worker is gone (its lease
    ended, or on PostgreSQL its session lock is free)."""
    expired = "x.claimed_until < %s"
    if not is_postgresql():
        return expired
    return (
        f"({expired} OR NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
        f" AND l.classid::bigint = {WORKER_LOCK} AND l.objid::bigint = x.claimed_by_id"
        " AND l.objsubid = 2 AND l.granted))"
    )


def claim_due(worker_id: int, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due deliveries of active destinations for the worker, oldest due
    first; deliveries left `sending` by a gone worker are due again."""
    now = utcnow()
    due = (
        f"((x.status = '{PENDING}' AND x.next_attempt_at <= %s)"
        f" OR (x.status = '{SENDING}' AND {_abandoned()}))"
    )
    chosen = (
        "SELECT x.id FROM delivery x JOIN delivery_destination dd ON dd.id = x.destination_id"
        f" WHERE {due} AND dd.active AND dd.removed_at IS NULL"
        " ORDER BY x.next_attempt_at LIMIT %s"
    )
    if is_postgresql():
        chosen += " FOR UPDATE OF x SKIP LOCKED"
    query = (
        f"UPDATE delivery SET status = '{SENDING}', claimed_by_id = %s, claimed_until = %s,"
        " attempts = attempts + 1, tries = tries + 1, updated_at = %s"
        f" WHERE id IN ({chosen})"
    )
    params = [worker_id, now + lease, now, now, now, limit]
    with database.atomic():
        ids = [row[0] for row in execute(query + " RETURNING id", params).fetchall()]
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
        "SELECT min(x.next_attempt_at) FROM delivery x"
        " JOIN delivery_destination dd ON dd.id = x.destination_id"
        f" WHERE x.status = '{PENDING}' AND dd.active AND dd.removed_at IS NULL"
    ).fetchone()
    return _time(row[0]) if row and row[0] is not None else None


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


def settle(
    claimed: Claimed,
    worker_id: int,
    *,
    started_at: datetime,
    duration_ms: float,
    outcome: str,
    status_code: int | None,
    answer: str,
    error: str | None,
    next_attempt_at: datetime | None,
    policy: PausePolicy,
) -> Settled:
    """Record an attempt and settle its delivery in one transaction: delivered, pending
    again at `next_attempt_at`, or dead (no attempt left, or failed for good); keep the
    destination's failure streak, pausing it per `policy`, and tell the lead's timeline
    and the tenant's webhooks what became of a buyer's delivery."""
    now = utcnow()
    if outcome == "delivered":
        status, delivered_at = DELIVERED, now
    elif outcome == "retry" and next_attempt_at is not None:
        status, delivered_at = PENDING, None
    else:
        status, delivered_at = DEAD, None
    with database.atomic():
        execute(
            "INSERT INTO delivery_attempt (delivery_id, number, worker, started_at, duration_ms,"
            " outcome, status_code, answer, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [claimed.id, claimed.attempts, worker_id, started_at, duration_ms, outcome]
            + [status_code, answer, error],
        )
        moved = execute(
            "UPDATE delivery SET status = %s, next_attempt_at = COALESCE(%s, next_attempt_at),"
            " claimed_by_id = NULL, claimed_until = NULL, last_status_code = %s,"
            " last_error = %s, delivered_at = %s, updated_at = %s"
            f" WHERE id = %s AND claimed_by_id = %s AND status = '{SENDING}' RETURNING id",
            [status, next_attempt_at, status_code, error, delivered_at, now]
            + [claimed.id, worker_id],
        ).fetchall()
        if not moved:
            return Settled(status=SENDING, lease_lost=True)
        paused = _count_streak(claimed, outcome == "delivered", now, policy)
        if claimed.customer_id is not None and claimed.lead_id is not None:
            _tell_lead(claimed, status, status_code, error, now)
    return Settled(status=status, paused=paused)


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
        f" since {since.isoformat(timespec='seconds')}Z"
    )
    execute(
        "UPDATE delivery_destination SET active = %s, paused_at = %s, paused_reason = %s,"
        " updated_at = %s WHERE id = %s",
        [False, now, reason, now, claimed.destination_id],
    )
    customer = _customer_ref(row[5])
    enqueue_event(
        claimed.tenant_id,
        "destination.paused",
        _event(
            "destination.paused",
            {
                "destination": {
                    "id": row[4],
                    "name": row[3],
                    "customer": customer,
                    "failures": failures,
                    "failing_since": _iso(since),
                    "reason": reason,
                }
            },
            now,
        ),
    )
    return True


def _tell_lead(
    claimed: Claimed, status: str, status_code: int | None, error: str | None, now: datetime
) -> None:
    """Put a buyer's delivery on its lead's timeline once settled for good; a dead one also
    sends `delivery.failed` to the tenant's webhooks."""
    if status not in (DELIVERED, DEAD):
        return
    url = f"/api/admin/deliveries/{claimed.public_id}"
    details = {
        "delivery": claimed.public_id,
        "destination": claimed.destination_ref,
        "attempts": claimed.attempts,
        "url": url,
    }
    if status == DELIVERED:
        kind, message = "delivered", f"Delivered to destination {claimed.destination_ref}."
    else:
        kind = "delivery_failed"
        message = (
            f"Delivery to destination {claimed.destination_ref} failed after"
            f" {claimed.attempts} attempt(s): {error or 'no answer'}."
        )
        details["error"] = error
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
        enqueue_event(
            claimed.tenant_id,
            "delivery.failed",
            _event("delivery.failed", data, now),
            lead_id=claimed.lead_id,
        )


def _customer_ref(customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    row = execute("SELECT public_id FROM customer WHERE id = %s", [customer_id]).fetchone()
    return row[0] if row else None


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds") + "Z"


def _event(event: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    # As app.delivery.payload.event_body builds them (the store cannot import the sender).
    return {"type": event, "created_at": _iso(at), "data": data}


# Workers


def register_worker(host: str, pid: int) -> int:
    """Record a starting worker; return its id."""
    return DeliveryWorker.create(host=host, pid=pid).id


def stop_worker(worker_id: int) -> None:
    """Record that a worker stopped."""
    DeliveryWorker.update(stopped_at=utcnow()).where(DeliveryWorker.id == worker_id).execute()


def release_abandoned(worker_id: int) -> int:
    """Make the deliveries left `sending` by other workers due again (SQLite, where one
    worker runs: a worker starting finds only its dead predecessors' claims); return how
    many."""
    return execute(
        f"UPDATE delivery SET status = '{PENDING}', claimed_by_id = NULL, claimed_until = NULL"
        f" WHERE status = '{SENDING}' AND (claimed_by_id IS NULL OR claimed_by_id <> %s)",
        [worker_id],
    ).rowcount


class WorkerRunning(UnavailableError):
    """Another worker already runs on this SQLite database."""


class Waker:
    """What an idle worker waits on: on PostgreSQL a connection of its own that LISTENs for
    due deliveries and holds the worker's session lock for its life; on SQLite a short poll,
    and a lock file beside the database that keeps a second worker from starting."""

    def __init__(self, worker_id: int) -> None:
        self.connection = None
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
            db = database.obj
            self.connection = psycopg2.connect(database=db.database, **db.connect_params)
            self.connection.autocommit = True
            with self.connection.cursor() as cursor:
                cursor.execute(f"LISTEN {DELIVERY_CHANNEL}")
                cursor.execute("SELECT pg_advisory_lock(%s, %s)", (WORKER_LOCK, worker_id))

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a delivery to become due; True if told one did."""
        if self.connection is None:
            time.sleep(max(0.0, min(seconds, SQLITE_POLL_SECONDS)))
            return False
        if not self.connection.notifies:
            select.select([self.connection], [], [], max(0.0, seconds))
            self.connection.poll()
        woken = bool(self.connection.notifies)
        self.connection.notifies.clear()
        return woken

    def close(self) -> None:
        """Close the connection, releasing the worker's session lock (or the lock file)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.lock_file is not None:
            self.lock_file.close()  # releases the flock
            self.lock_file = None
