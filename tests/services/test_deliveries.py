"""Deliveries as a tenant sees them: lists, one with its attempts, and replays of dead ones."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from app.domain.clock import utcnow
from app.domain.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from app.services import deliveries, destinations, leads
from app.services.actor import operator_actor, user_actor
from app.services.deliveries import DeliveryFilter
from app.store import deliveries_admin
from app.store.customers import find_customer
from app.store.db import database, is_postgresql
from app.store.models import Delivery, Lead
from app.store.tenants import create_tenant, create_user
from tests.delivery_rows import attempt_row, delivery_row, destination_row

ALL = DeliveryFilter()


@pytest.fixture
def admin(world, db):
    return operator_actor(world.tenant.code)


@pytest.fixture
def lead(world, seed_lead, db):
    assert world.post(seed_lead).json["status"] == "assigned"
    return Lead.get()


@pytest.fixture
def rows(world, lead, db):
    """Deliveries of every status: to sunco's CRM, to brightside's, and to a webhook."""
    sunco = destination_row(world.tenant, find_customer(world.tenant, "sunco"), name="Sunco")
    bright = destination_row(
        world.tenant, find_customer(world.tenant, "brightside"), name="Brightside"
    )
    hook = destination_row(world.tenant, name="Our webhook")
    made = {
        "dead": delivery_row(sunco, lead=lead, attempts=12, last_error="HTTP 500", minute=1),
        "delivered": delivery_row(sunco, status="delivered", attempts=1, minute=2),
        "pending": delivery_row(bright, status="pending", attempts=2, minute=3),
        "sending": delivery_row(bright, status="sending", attempts=1, minute=4),
        "canceled": delivery_row(bright, status="canceled", minute=5),
        "dead_bright": delivery_row(bright, attempts=12, minute=6),
        "dead_hook": delivery_row(hook, event="lead.unsold", lead=lead, attempts=3, minute=7),
    }
    db.close()
    return {"sunco": sunco, "bright": bright, "hook": hook, **made}


def ids(found) -> list[str]:
    return [row.public_id for row in found]


def fresh(row) -> Delivery:
    return Delivery.get_by_id(row.id)


def test_deliveries_are_listed_newest_first_and_filtered(admin, rows, lead):
    every = deliveries.list_deliveries(admin, ALL)
    assert ids(every) == [
        rows[name].public_id
        for name in (
            "dead_hook",
            "dead_bright",
            "canceled",
            "sending",
            "pending",
            "delivered",
            "dead",
        )
    ]
    newest = every[0]
    assert newest.destination.public_id == rows["hook"].public_id
    assert newest.destination.customer is None and newest.lead.public_id == lead.public_id
    assert every[-1].destination.customer.slug == "sunco"
    cases = {
        DeliveryFilter(status="dead"): ["dead_hook", "dead_bright", "dead"],
        DeliveryFilter(destination=rows["sunco"].public_id): ["delivered", "dead"],
        DeliveryFilter(customer="brightside"): ["dead_bright", "canceled", "sending", "pending"],
        DeliveryFilter(customer=find_customer(admin.tenant, "sunco").public_id): [
            "delivered",
            "dead",
        ],
        DeliveryFilter(lead=lead.public_id): ["dead_hook", "dead"],
        DeliveryFilter(event="lead.unsold"): ["dead_hook"],
        DeliveryFilter(status="dead", customer="sunco"): ["dead"],
        DeliveryFilter(destination="dst_nope"): [],
    }
    for filters, names in cases.items():
        expected = [rows[name].public_id for name in names]
        assert ids(deliveries.list_deliveries(admin, filters)) == expected, filters
        assert deliveries.count_deliveries(admin, filters) == len(expected), filters
    page = deliveries.list_deliveries(admin, ALL, limit=2, offset=2)
    assert ids(page) == ids(every[2:4])


def test_an_unknown_status_or_event_is_refused_by_field(admin):
    with pytest.raises(InvalidError) as caught:
        deliveries.list_deliveries(admin, DeliveryFilter(status="lost"))
    assert set(caught.value.details) == {"status"}
    with pytest.raises(InvalidError) as caught:
        deliveries.count_deliveries(admin, DeliveryFilter(event="lead.bought"))
    assert set(caught.value.details) == {"event"}


def test_a_delivery_is_shown_with_its_payload_and_attempts_oldest_first(admin, rows, lead):
    dead = rows["dead"]
    attempt_row(dead, 2, status_code=None, error="connection refused")
    attempt_row(dead, 1, answer='{"error": "busy"}')
    attempt_row(dead, 3, outcome="failed", status_code=410, answer="Gone")
    shown = deliveries.show_delivery(admin, dead.public_id)
    assert shown.payload == {"lead": {"id": "lead_x", "fields": {}}}
    assert [a.number for a in shown.history] == [1, 2, 3]
    assert [a.outcome for a in shown.history] == ["retry", "retry", "failed"]
    assert shown.history[1].error == "connection refused" and shown.history[1].status_code is None
    assert shown.history[0].answer == '{"error": "busy"}'
    assert shown.destination.public_id == rows["sunco"].public_id
    assert shown.destination.customer.slug == "sunco"
    assert shown.lead.public_id == lead.public_id
    assert deliveries.show_delivery(admin, rows["pending"].public_id).history == []


def test_replaying_a_dead_delivery_starts_a_new_round_with_the_same_id(admin, rows):
    dead = rows["dead"]
    attempt_row(dead, 1)
    before = utcnow()
    done = deliveries.retry_deliveries(admin, [dead.public_id])
    assert done.replayed == [dead.public_id] and done.rescheduled == []
    row = fresh(dead)
    assert row.public_id == dead.public_id  # the webhook-id the buyer sees again
    assert (row.status, row.tries, row.attempts) == ("pending", 0, 12)
    assert row.claimed_by_id is None and row.claimed_until is None
    assert before - timedelta(seconds=1) <= row.next_attempt_at <= utcnow()
    assert row.updated_at == row.next_attempt_at and row.created_at == dead.created_at
    assert row.last_error == "HTTP 500"  # what happened stays until the next attempt
    assert len(deliveries.show_delivery(admin, dead.public_id).history) == 1
    assert Delivery.select().where(Delivery.public_id == dead.public_id).count() == 1
    others = [fresh(rows[name]) for name in ("delivered", "dead_bright", "dead_hook")]
    assert [row.status for row in others] == ["delivered", "dead", "dead"]


def test_several_deliveries_are_replayed_at_once_and_a_pending_one_is_tried_now(admin, rows):
    named = [rows["dead_hook"].public_id, rows["pending"].public_id, rows["dead"].public_id]
    done = deliveries.retry_deliveries(admin, [*named, named[0]])
    assert done.replayed == [named[0], named[2]]
    assert done.rescheduled == [named[1]]
    pending = fresh(rows["pending"])
    assert (pending.status, pending.tries, pending.attempts) == ("pending", 2, 2)
    assert pending.next_attempt_at > rows["pending"].next_attempt_at
    assert pending.next_attempt_at <= utcnow()
    assert fresh(rows["dead_bright"]).status == "dead"


def test_every_dead_delivery_is_replayed_or_only_a_destinations(admin, rows, world, monkeypatch):
    monkeypatch.setattr(deliveries_admin, "UPDATE_BATCH", 1)  # a statement per row
    gone = destination_row(world.tenant, find_customer(world.tenant, "bargain"), removed=True)
    kept_dead = delivery_row(gone, minute=9)
    done = deliveries.retry_deliveries(admin, all_dead=True, destination=rows["bright"].public_id)
    assert done.replayed == [rows["dead_bright"].public_id] and done.rescheduled == []
    assert fresh(rows["dead"]).status == "dead"
    done = deliveries.retry_deliveries(admin, all_dead=True)
    assert sorted(done.replayed) == sorted([rows["dead"].public_id, rows["dead_hook"].public_id])
    assert fresh(kept_dead).status == "dead"  # its destination was removed
    statuses = {row.status for row in Delivery.select() if row.id != kept_dead.id}
    assert statuses == {"pending", "delivered", "sending", "canceled"}
    assert deliveries.retry_deliveries(admin, all_dead=True).replayed == []


@pytest.mark.parametrize("status", ["delivered", "sending", "canceled"])
def test_only_dead_or_pending_deliveries_are_replayed_all_or_nothing(admin, rows, status):
    refused = rows[status]
    with pytest.raises(ConflictError) as caught:
        deliveries.retry_deliveries(admin, [rows["dead"].public_id, refused.public_id])
    assert f"{refused.public_id} is {status}" in caught.value.message
    assert rows["dead"].public_id not in caught.value.message
    assert fresh(rows["dead"]).status == "dead"  # nothing done
    assert fresh(refused).status == status


def test_a_delivery_to_a_removed_destination_is_not_replayed(admin, world, db):
    gone = destination_row(world.tenant, removed=True)
    dead = delivery_row(gone)
    with pytest.raises(ConflictError, match=f"destination {gone.public_id} was removed"):
        deliveries.retry_deliveries(admin, [dead.public_id])
    with pytest.raises(ConflictError, match="was removed"):
        deliveries.retry_deliveries(admin, all_dead=True, destination=gone.public_id)
    assert fresh(dead).status == "dead"


def test_another_tenants_deliveries_are_not_found(admin, rows, db):
    other, _, _ = create_tenant("Other Leads")
    theirs = delivery_row(destination_row(other))
    ours = rows["dead"].public_id
    with pytest.raises(NotFoundError):
        deliveries.show_delivery(admin, theirs.public_id)
    with pytest.raises(NotFoundError, match=theirs.public_id):
        deliveries.retry_deliveries(admin, [ours, theirs.public_id])
    with pytest.raises(NotFoundError, match="no destination"):
        deliveries.retry_deliveries(admin, all_dead=True, destination=theirs.destination.public_id)
    assert fresh(theirs).status == "dead" and fresh(rows["dead"]).status == "dead"
    assert theirs.public_id not in ids(deliveries.list_deliveries(admin, ALL))
    mine = operator_actor(other.code)
    assert deliveries.retry_deliveries(mine, all_dead=True).replayed == [theirs.public_id]
    assert fresh(rows["dead"]).status == "dead"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: deliveries.retry_deliveries(a, []), "ids"),
        (lambda a: deliveries.retry_deliveries(a, ["msg_x"], all_dead=True), "ids"),
        (lambda a: deliveries.retry_deliveries(a, ["msg_x"], destination="dst_x"), "destination"),
        (lambda a: deliveries.retry_deliveries(a, ["msg_x"] * 1001), "ids"),
    ],
    ids=["nothing", "both", "destination-without-all-dead", "too-many"],
)
def test_a_wrong_replay_request_is_refused_by_field(admin, call, field):
    with pytest.raises(InvalidError) as caught:
        call(admin)
    assert set(caught.value.details) == {field}


def test_a_viewer_reads_deliveries_but_cannot_replay_them(world, rows):
    user, _ = create_user(world.tenant, "viewer@acme.example", "viewer")
    viewer = user_actor(user)
    assert len(deliveries.list_deliveries(viewer, DeliveryFilter(status="dead"))) == 3
    assert deliveries.show_delivery(viewer, rows["dead"].public_id).status == "dead"
    with pytest.raises(ForbiddenError, match="deliveries.retry"):
        deliveries.retry_deliveries(viewer, [rows["dead"].public_id])
    with pytest.raises(ForbiddenError, match="deliveries.retry"):
        deliveries.retry_deliveries(viewer, all_dead=True)
    assert fresh(rows["dead"]).status == "dead"


def test_a_lead_is_shown_with_its_deliveries(admin, rows, lead):
    shown = leads.show_lead(admin, lead.public_id)
    assert ids(shown.delivery_list) == [rows["dead"].public_id, rows["dead_hook"].public_id]
    assert shown.delivery_list[1].destination.name == "Our webhook"


def _blocked_on_a_lock() -> bool:
    """Tell whether another session of this database waits for a row lock."""
    cursor = database.execute_sql(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE NOT l.granted AND a.datname = current_database()"
    )
    return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("how", ["named", "all_dead"])
def test_two_replays_at_once_replay_a_delivery_once(admin, rows, how):
    """The second replay waits for the first, then finds the delivery pending: it is
    attempted now (named) or left alone (all dead), never given a second new round."""
    if not is_postgresql():
        pytest.skip("SQLite runs one writer at a time: replays cannot overlap")
    dead = rows["dead"]
    first_done, release = threading.Event(), threading.Event()
    results, errors = {}, []

    def replay():
        if how == "named":
            return deliveries.retry_deliveries(admin, [dead.public_id])
        return deliveries.retry_deliveries(
            admin, all_dead=True, destination=rows["sunco"].public_id
        )

    def first():
        try:
            with database.atomic():  # the replay's transaction, held open until released
                results["first"] = replay()
                first_done.set()
                release.wait(timeout=30)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            first_done.set()
            database.close()

    def second():
        try:
            results["second"] = replay()
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            database.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_done.wait(timeout=30)
    two = threading.Thread(target=second)
    two.start()
    deadline = time.monotonic() + 30
    while not _blocked_on_a_lock():  # until the second replay waits for the row's lock
        assert two.is_alive() and time.monotonic() < deadline, "the second replay did not wait"
        release.wait(timeout=0.01)
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert errors == []
    assert results["first"].replayed == [dead.public_id]
    assert results["second"].replayed == []
    if how == "named":
        assert results["second"].rescheduled == [dead.public_id]
    row = fresh(dead)
    assert (row.status, row.tries, row.attempts) == ("pending", 0, 12)
    assert Delivery.select().where(Delivery.public_id == dead.public_id).count() == 1
    assert Delivery.select().where(Delivery.status == "pending").count() == 2  # and "pending"


def test_a_removal_while_a_replay_runs_cancels_what_it_replayed(admin, rows):
    """A destination removed while a replay of its deliveries commits: the removal waits for
    the replay, then cancels the delivery, never left pending for a destination no worker
    sends to."""
    if not is_postgresql():
        pytest.skip("SQLite runs one writer at a time: a removal cannot overlap a replay")
    dead, replayed, release = rows["dead"], threading.Event(), threading.Event()
    errors = []

    def replay():
        try:
            with database.atomic():
                deliveries.retry_deliveries(admin, [dead.public_id])
                replayed.set()
                release.wait(timeout=30)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            replayed.set()
            database.close()

    def remove():
        try:
            destinations.remove_destination(admin, "sunco", rows["sunco"].public_id)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            database.close()

    one = threading.Thread(target=replay)
    one.start()
    assert replayed.wait(timeout=30)
    two = threading.Thread(target=remove)
    two.start()
    deadline = time.monotonic() + 30
    while two.is_alive() and not _blocked_on_a_lock():  # the removal waits for the replay
        assert time.monotonic() < deadline, "the removal neither waited nor ended"
        release.wait(timeout=0.01)
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert errors == []
    assert fresh(dead).status == "canceled"  # not "pending" at a removed destination
