"""A customer's own users in the store: their tokens, their customer, their activation."""

from __future__ import annotations

import threading

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


def test_simultaneous_re_adds_activate_the_user_once(world, db):
    if not is_postgresql():
        pytest.skip("SQLite runs one writer at a time: the adds cannot overlap")
    sunco = find_customer(world.tenant, "sunco")
    create_customer_user(sunco, "ann@sunco.example")
    deactivate_customer_user(sunco, "ann@sunco.example")
    database.close()
    barrier = threading.Barrier(4)
    tokens: list[str] = []
    refused: list[str] = []

    def add() -> None:
        barrier.wait()
        try:
            tokens.append(create_customer_user(sunco, "ann@sunco.example")[1])
        except ConflictError as error:
            refused.append(error.message)
        finally:
            database.close()

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 1 and len(refused) == 3
    assert authenticate_user(tokens[0]).email == "ann@sunco.example"
    assert User.select().where(User.email == "ann@sunco.example").count() == 1
