"""The PostgreSQL connection's shortcuts: BEGIN with the first statement, COMMIT with the last."""

import pytest

from app.store.db import database, execute, execute_and_commit, is_postgresql
from app.store.models import Tenant
from app.store.tenants import create_tenant


@pytest.fixture
def pg(db):
    if not is_postgresql():
        pytest.skip("PostgreSQL's transaction shortcuts")
    database.connect(reuse_if_open=True)
    yield database
    database.close()


def _status() -> int:
    return database.connection().info.transaction_status  # 0 idle, 2 in a transaction


def test_begin_goes_with_the_first_statement_and_rolls_back_with_it(pg):
    create_tenant("Acme")
    with pytest.raises(ZeroDivisionError):
        with database.atomic():
            assert _status() == 0  # nothing sent yet
            execute("UPDATE tenant SET name = 'Changed'")
            assert _status() == 2  # BEGIN went with the UPDATE
            raise ZeroDivisionError
    assert _status() == 0
    assert Tenant.get().name == "Acme"


def test_an_empty_transaction_sends_nothing(pg):
    with database.atomic():
        pass
    with database.atomic():
        with database.atomic():
            pass
    assert _status() == 0
    assert execute("SELECT 1").fetchone() == (1,)


def test_the_last_statement_commits_in_its_round_trip(pg):
    create_tenant("Acme")
    with database.atomic():
        execute("SELECT 1")
        execute_and_commit("UPDATE tenant SET name = 'Committed'")
        assert _status() == 0  # committed in the statement's round trip
    assert _status() == 0
    assert Tenant.get().name == "Committed"


def test_routing_inside_a_callers_transaction_leaves_the_commit_to_it(pg, make_world):
    from app.pipeline import route_lead
    from app.store.leads import accept_submission
    from app.store.models import Lead
    from app.store.rules import active_ruleset

    world = make_world()
    database.connect(reuse_if_open=True)
    version, ruleset = active_ruleset(world.tenant)
    values = {"first_name": "Katy", "last_name": "Berry", "phone": "555-201-0001",
              "email": "katy@example.com", "zip": "33139", "state": "FL"}  # fmt: skip
    _, lead = accept_submission(
        world.source, "req-1", values, {}, values,
        category="solar", partner_id=None, is_test=False, received_at=Lead.received_at.default(),
    )  # fmt: skip
    with pytest.raises(ZeroDivisionError):
        with database.atomic():
            route_lead(lead, version, ruleset)
            assert _status() == 2  # still the caller's transaction
            raise ZeroDivisionError
    assert Lead.get_by_id(lead.id).status == "pending"
