"""The PostgreSQL connection's shortcuts: BEGIN with the first statement, COMMIT with the last,
hot statements prepared once per connection."""

import pytest

from app.store import db
from app.store.db import database, execute, execute_and_commit, execute_together, is_postgresql
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
    from app.services.routing import reroute_lead
    from app.store.leads import keep_failed_submission, new_submission
    from app.store.models import Lead
    from app.store.rules import active_ruleset

    world = make_world()
    database.connect(reuse_if_open=True)
    version, ruleset = active_ruleset(world.tenant)
    values = {
        "first_name": "Katy",
        "last_name": "Berry",
        "phone": "555-201-0001",
        "email": "katy@example.com",
        "zip": "33139",
        "state": "FL",
    }
    post, lead = new_submission(
        world.source,
        "req-1",
        values,
        {},
        values,
        category="solar",
        partner_id=None,
        is_test=False,
        received_at=Lead.received_at.default(),
    )
    keep_failed_submission(post, lead, [], "RuntimeError: down", "req-1")
    with pytest.raises(ZeroDivisionError):
        with database.atomic():
            assert reroute_lead(lead, version, ruleset).status == "assigned"
            assert _status() == 2  # still the caller's transaction
            raise ZeroDivisionError
    assert Lead.get_by_id(lead.id).status == "distribution_error"


def _prepared() -> dict[str, str]:
    """Return the session's prepared statements: {name: statement}."""
    cursor = database.connection().cursor()
    cursor.execute("SELECT name, statement FROM pg_prepared_statements")
    return dict(cursor.fetchall())


def test_a_statement_is_prepared_once_per_connection(pg):
    create_tenant("Acme")
    query = "SELECT name FROM tenant WHERE name = %s AND name LIKE '%%e'"
    assert execute(query, ["Acme"]).fetchone() == ("Acme",)
    first = _prepared()
    assert len(first) == 1
    assert "AS SELECT name FROM tenant WHERE name = $1 AND name LIKE '%e'" in next(
        iter(first.values())
    )
    assert execute(query, ["Acme"]).fetchone() == ("Acme",)
    assert execute(query, ["Nobody"]).fetchone() is None
    assert _prepared() == first  # executed again, not prepared again


def test_a_prepared_statement_outlives_a_rollback(pg):
    create_tenant("Acme")
    with pytest.raises(ZeroDivisionError):
        with database.atomic():
            execute("UPDATE tenant SET name = %s", ["Changed"])
            raise ZeroDivisionError
    assert Tenant.get().name == "Acme"
    execute("UPDATE tenant SET name = %s", ["Changed"])  # its name is still known: reused
    assert Tenant.get().name == "Changed"
    assert len(_prepared()) == 1


def test_a_failed_round_trip_never_reuses_a_name(pg):
    create_tenant("Acme")
    failing = [("UPDATE tenant SET name = %s", ["X"]), ("SELECT 1 / %s", [0])]
    for _ in range(2):  # the first PREPAREs ran before the division failed: new names
        with pytest.raises(peewee_errors()):
            with database.atomic():
                execute_together(failing)
    assert Tenant.get().name == "Acme"
    assert execute_together(failing[:1] + [("SELECT 1 / %s", [1])]).fetchone() == (1,)
    assert Tenant.get().name == "X"


def test_too_many_prepared_statements_are_dropped_together(pg, monkeypatch):
    monkeypatch.setattr(db, "PREPARED_PER_CONNECTION", 3)
    for n in range(5):
        assert execute(f"SELECT %s + {n}", [1]).fetchone() == (1 + n,)
    assert len(_prepared()) == 2  # three, dropped at the fourth, which was prepared anew


def test_utility_statements_are_sent_as_they_are(pg):
    with database.atomic():
        cursor = execute_together([("SET LOCAL synchronous_commit = off", []), ("SELECT 1", [])])
        assert cursor.fetchone() == (1,)
        assert execute("SHOW synchronous_commit").fetchone() == ("off",)
    assert len(_prepared()) == 1  # the SELECT only


def peewee_errors():
    import peewee

    return peewee.DataError, peewee.DatabaseError


def test_a_deferred_statement_goes_with_the_next_one(pg):
    from app.store.db import defer

    create_tenant("Acme")
    with database.atomic():
        defer("UPDATE tenant SET name = %s", ["Deferred"])
        assert _status() == 0  # nothing sent yet
        assert execute("SELECT name FROM tenant").fetchone() == ("Deferred",)
        defer("UPDATE tenant SET name = %s", ["Again"])
        assert Tenant.get().name == "Again"  # a peewee query carries it too
    assert Tenant.get().name == "Again"
    with database.atomic():
        defer("UPDATE tenant SET name = %s", ["Never"])  # nothing follows: never sent
    assert _status() == 0
    assert Tenant.get().name == "Again"
    with pytest.raises(RuntimeError):
        defer("UPDATE tenant SET name = %s", ["Outside"])


def test_an_intake_lead_is_written_once_in_three_round_trips(pg, home, home_lead, monkeypatch):
    """The credentials; the dedupe keys with bidding's read; then one statement inserting the
    post and the routed lead with its timeline, dedupe record and charge, and the COMMIT."""
    sent = []
    send = db.PooledPostgres._send

    def counting(self, sql, params, prepared_now=None):
        sent.append(sql)
        return send(self, sql, params, prepared_now)

    database.execute_sql("TRUNCATE lead CASCADE")  # new files: the leads' places below are known
    monkeypatch.setattr(db.PooledPostgres, "_send", counting)
    assert home.post(home_lead(1, kind="Solar")).status_code == 201  # prepares the statements
    sent.clear()
    response = home.post(home_lead(2, kind="Solar"))
    assert (response.status_code, response.json["status"]) == (201, "assigned")
    assert len(sent) == 3, sent
    assert sent[-1].endswith("; COMMIT") and sent[-1].count("EXECUTE") == 1
    monkeypatch.undo()
    database.connect(reuse_if_open=True)
    lead = response.json["lead_public_id"]
    cursor = database.connection().cursor()
    cursor.execute(
        "SELECT l.xmin::text, l.ctid::text, p.xmin::text, w.xmin::text, k.xmin::text,"
        " array_agg(DISTINCT e.xmin::text) FROM lead l JOIN post p ON p.id = l.post_id"
        " JOIN wallet_entry w ON w.lead_id = l.id JOIN dedupe_key k ON k.lead_id = l.id"
        " JOIN lead_event e ON e.lead_id = l.id WHERE l.public_id = %s"
        " GROUP BY l.xmin::text, l.ctid::text, p.xmin::text, w.xmin::text, k.xmin::text",
        [lead],
    )
    ((lead_xmin, ctid, post_xmin, charge_xmin, key_xmin, event_xmins),) = cursor.fetchall()
    assert post_xmin == lead_xmin == charge_xmin == key_xmin and event_xmins == [lead_xmin]
    assert ctid == "(0,2)"  # the second lead of the table, never updated into a new version


def test_json_text_writes_what_the_json_module_would():
    import json

    from app.store.db import json_text

    for value in [
        {"a": 1, "b": [1.5, None, True, "é \U0001f600 \u2028"], "c": {"d": -0.0}},
        {"huge": 10**40, "nested": [[{"x": 2**63}]]},  # beyond 64 bits: the json module's
        "text",
        12,
    ]:
        assert json.loads(json_text(value)) == value
