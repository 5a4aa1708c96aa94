"""Fixtures shared by the service tests: `app`, `client`, `db` on every test backend.

SQLite (a fresh file per test) always; PostgreSQL too when SLUICE_TEST_DATABASE_URL is
set, in a schema of its own for the session, emptied before each test. With
SLUICE_REQUIRE_SERVICES=1 an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

# `buyer`: a buyer's endpoint on loopback; `partner_api`: partners' and providers' APIs
pytest_plugins = ["tests.buyers", "tests.partner_servers"]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PG_URL = os.environ.get("SLUICE_TEST_DATABASE_URL")
REQUIRE_SERVICES = os.environ.get("SLUICE_REQUIRE_SERVICES") == "1"
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]

# The lead of the Juiced API reference, as integrators send it.
SEED_LEAD = {
    "first_name": "Katy",
    "last_name": "Berry",
    "email": "katy.berry@thirstyleads.com",
    "phone": "555-123-4567",
    "address_1": "742 Orchard Lane",
    "city": "Paradise Bay",
    "state": "FL",
    "zip": "33139",
}


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _home_rules(*, closed_day_offset: int = 3, plan: str | None = None, extra: str = "") -> str:
    """Return a small rule set exercising every stage; `solar_closed` is never open today."""
    from datetime import UTC, datetime

    closed_day = DAY_NAMES[(datetime.now(UTC).weekday() + closed_day_offset) % 7]
    plan = plan or "stage bidding highest_price\n    stage marketplace"
    return f"""
category home "Home services" {{
    field first_name text required(post) example "Katy"
    field phone phone required(post) example "555-123-4567"
    field email email
    field state us_state required(post)
    field zip zip required(post)
    field kind one of ["Roof", "Solar", "Other"]
    field score integer
    field homeowner bool
}}

lead_type roof "Roofing" in home priority 20 when kind == "Roof"
lead_type solar "Solar" in home priority 10 when kind == "Solar"

audit "Test name" in home when lower(first_name) == "test"

dedupe "Same phone" in home on phone within 30 days

bid alpha_roof for customer alpha on roof price 40.00
bid beta_roof for customer beta on roof price 40.00
bid gamma_roof for customer gamma on roof price 20.00 when state == "TX"
bid solar_capped for customer alpha on solar price 25.00 cap 2 per day
bid solar_budget for customer beta on solar price 10.00 budget 20 per month
bid solar_closed for customer gamma on solar price 99.00
    schedule {closed_day} 00:00..24:00 "UTC"
{extra}
plan home {{
    {plan}
}}
"""


def _home_lead(n: int = 1, **fields) -> dict:
    """Return a valid home lead with a phone of its own (n); keywords override fields."""
    lead = {
        "first_name": "Katy",
        "phone": f"555-201-{n:04d}",
        "state": "FL",
        "zip": "33139",
        "kind": "Roof",
    }
    lead.update(fields)
    return {k: v for k, v in lead.items() if v is not None}


@pytest.fixture(scope="session")
def pg_schema_url():
    """Return a PostgreSQL URL whose search_path is a fresh schema, dropped at the end."""
    import psycopg2

    schema = f"sluice_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg2.connect(PG_URL, connect_timeout=5)
    except psycopg2.OperationalError as error:
        message = f"PostgreSQL at SLUICE_TEST_DATABASE_URL is unreachable: {error}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    yield url
    with conn.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Return a SQLite file with every migration applied, for tests to start from a copy
    (migrating a new file costs each test some 30 ms)."""
    from app import create_app
    from app.store.db import database
    from app.store.migrations import upgrade

    path = tmp_path_factory.mktemp("template") / "sluice.sqlite3"
    with create_app({"DATABASE_URL": f"sqlite:///{path}"}).app_context():
        upgrade()
        database.close()
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """Return the URL of an empty, up-to-date database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "sluice.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def app(database_url):
    """Return the app on an empty database with the schema created."""
    from app import create_app
    from app.store.db import database, is_postgresql
    from app.store.migrations import upgrade
    from app.store.models import MODELS

    app = create_app({"DATABASE_URL": database_url, "PUBLIC_URL": "http://sluice.test"})
    with app.app_context():
        upgrade()
        if is_postgresql():
            _empty_schema(database, MODELS)
        database.close()
    yield app
    if not database.is_closed():
        database.close()


def _empty_schema(database, models) -> None:
    """Delete every row of the test schema and restart its sequences, as TRUNCATE ...
    RESTART IDENTITY would; deleting a test's few rows is some 0.1 s faster a test than
    TRUNCATE making new files for every table and index."""
    with database.atomic():
        for model in reversed(models):  # children first
            database.execute_sql(f'DELETE FROM "{model._meta.table_name}"')
        database.execute_sql(
            "SELECT setval(oid, 1, false) FROM pg_class"
            " WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace"
        )


@pytest.fixture
def client(app):
    """Return a test client of the app."""
    return app.test_client()


@pytest.fixture
def db(app):
    """Return the bound database for direct store calls (no app context: requests get theirs)."""
    from app.store.db import database

    yield database
    if not database.is_closed():
        database.close()


def basic_auth(key: str, secret: str) -> dict[str, str]:
    """Return the Authorization header of HTTP Basic credentials."""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class World:
    """A tenant ready to take leads: rules, customers, a source and an admin token."""

    tenant: object
    admin_token: str
    source: object
    secret: str
    client: object

    @property
    def auth(self) -> dict[str, str]:
        return basic_auth(self.source.api_key, self.secret)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def post(self, body=None, headers=None, **kwargs):
        """POST a lead as the source."""
        return self.client.post(
            "/api/leads", json=body, headers={**self.auth, **(headers or {})}, **kwargs
        )


@pytest.fixture
def make_world(db, client):
    """Return a factory of tenants: make_world(rules, customers={slug: balance}, ...)."""
    from app.domain.money import to_cents
    from app.dsl import read_rule_files
    from app.store.customers import create_customer
    from app.store.rules import push_rules
    from app.store.sources import create_source
    from app.store.tenants import create_tenant

    def make(rules=None, customers=None, category=None, test_mode=False, name="Acme"):
        files = read_rule_files(str(EXAMPLES / "solar")) if rules is None else rules
        if isinstance(files, str):
            files = {"test.rules": files}
        if customers is None:
            customers = {"sunco": "1000", "brightside": "1000", "bargain": "1000"}
        tenant, _, token = create_tenant(name)
        for slug, balance in customers.items():
            create_customer(tenant, slug, slug.title(), to_cents(balance))
        _, ruleset = push_rules(tenant, files, by="tests")
        source, secret = create_source(
            tenant, "Web form", category or next(iter(ruleset.categories)), test_mode
        )
        db.close()
        return World(tenant, token, source, secret, client)

    return make


@pytest.fixture
def home(make_world):
    """A tenant on the home rules; alpha, beta and gamma have 100.00 each."""
    return make_world(_home_rules(), {"alpha": "100", "beta": "100", "gamma": "100"})


@pytest.fixture
def home_rules():
    """Return the builder of the home rule set text (see _home_rules)."""
    return _home_rules


@pytest.fixture
def home_lead():
    """Return the builder of valid home leads: home_lead(n, **overrides)."""
    return _home_lead


@pytest.fixture
def seed_lead():
    """Return the lead of the Juiced API reference's example request."""
    return dict(SEED_LEAD)


@pytest.fixture
def world(make_world):
    """A tenant on the example solar rules, every customer with 1,000.00."""
    return make_world()


@pytest.fixture
def secret_key(monkeypatch):
    """Encrypt destinations' secrets with a fresh SLUICE_SECRET_KEY (the CLI reads it too)."""
    from app.store import crypto

    key = crypto.new_key()
    monkeypatch.setenv("SLUICE_SECRET_KEY", key)
    crypto.use_keys(key)
    yield key
    crypto.use_keys(None)


@pytest.fixture
def threads_server(app):
    """Serve the app from a threaded WSGI server on a loopback port (a thread a request), for
    the tests whose requests must really run at the same time (tests/http.py)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
