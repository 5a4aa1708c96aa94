"""A customer's own users in the store: their tokens, their customer, their activation."""

from __future__ import annotations

import threading
import time

import pytest

from app.domain.errors import ConflictError
from app.store.customers import find_customer
from app.store.db import database, is_postgresql
from app.store.models import User
from app.store.tenants import (
    authenticate_user,
    create_customer_user,
    create_user,
    deactivate_customer_user,
    rotate_user_token,
)


def test_a_customer_user_has_a_customer_token_and_role(world, db):
    sunco = find_customer(world.tenant, "sunco")
    user, token = create_customer_user(sunco, " Ann@Sunco.example ")
    assert token.startswith("sct_") and user.token_hash != token
    assert (user.email, user.role, user.customer_id) == ("ann@sunco.example", "customer", sunco.id)
    assert authenticate_user(token).customer.slug == "sunco"
    new = rotate_user_token(user)
    assert new.startswith("sct_") and authenticate_user(token) is None
    assert authenticate_user(new).id == user.id


def test_a_tenant_users_email_is_not_a_customers(world, db):
    create_user(world.tenant, "ops@acme.example", "viewer")
    with pytest.raises(ConflictError):
        create_customer_user(find_customer(world.tenant, "sunco"), "ops@acme.example")
    with pytest.raises(Exception, match="unknown role"):
        create_user(world.tenant, "c@acme.example", "customer")


def _blocked_on_a_lock() -> bool:
    """Tell whether another session of this database waits for a row lock."""
    cursor = database.execute_sql(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE NOT l.granted AND a.datname = current_database()"
    )
    return cursor.fetchone()[0] > 0


def test_simultaneous_re_adds_activate_the_user_once(world, db):
    """The second add reads the user inactive, waits for the first's row lock, then finds
    it active: refused, rather than answering a token the first's overwrote or vice versa."""
    if not is_postgresql():
        pytest.skip("SQLite runs one writer at a time: the adds cannot overlap")
    sunco = find_customer(world.tenant, "sunco")
    create_customer_user(sunco, "ann@sunco.example")
    deactivate_customer_user(sunco, "ann@sunco.example")
    database.close()
    first_done, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def add(name: str, hold: bool) -> None:
        try:
            with database.atomic():  # held open until released, the row locked
                results[name] = create_customer_user(sunco, "ann@sunco.example")[1]
                if hold:
                    first_done.set()
                    release.wait(timeout=30)
        except ConflictError as error:
            results[name] = error
        finally:
            first_done.set()
            database.close()

    one = threading.Thread(target=add, args=("first", True))
    one.start()
    assert first_done.wait(timeout=30)
    two = threading.Thread(target=add, args=("second", False))
    two.start()
    deadline = time.monotonic() + 30
    while not _blocked_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the database's lock table, not a guess at timing
    database.close()
    release.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert isinstance(results["first"], str), results
    assert isinstance(results["second"], ConflictError), results
    assert authenticate_user(results["first"]).email == "ann@sunco.example"
    assert User.select().where(User.email == "ann@sunco.example").count() == 1
