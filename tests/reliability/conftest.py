"""Load and fault tests: gunicorn with several workers on PostgreSQL, loopback only.

They need PostgreSQL (SLUICE_TEST_DATABASE_URL), and skip without it unless
SLUICE_REQUIRE_SERVICES=1, which makes an unreachable database a failure. Sizes are small
for CI; SLUICE_RELIABILITY_SCALE multiplies the request counts (e.g. 10 for 6,000 leads).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import pytest

from tests.conftest import PG_URL, REQUIRE_SERVICES
from tests.servers import Gunicorn, free_port

ROOT = Path(__file__).resolve().parents[2]
SCALE = float(os.environ.get("SLUICE_RELIABILITY_SCALE", "1"))
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL")
# Rate limits must not throttle the load itself (the two-instance test sets its own).
UNLIMITED = {"SLUICE_RATE_LIMIT": "1000000", "SLUICE_AUTH_FAILURE_LIMIT": "1000000"}


def scaled(count: int) -> int:
    return max(1, round(count * SCALE))


@pytest.fixture
def database_url(request):
    """PostgreSQL only: several workers on SQLite would only measure its write lock."""
    if not PG_URL:
        message = "load and fault tests run on PostgreSQL: set SLUICE_TEST_DATABASE_URL"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return request.getfixturevalue("pg_schema_url")


@dataclass
class Credentials:
    auth: str  # the source's Authorization header
    admin: str  # the tenant admin's Authorization header
    source_id: str
    tenant_id: int


def set_up_tenant(rules: str, wallets: dict[str, int], **source_options) -> Credentials:
    """Create a tenant with customers, rules and a source on the bound database."""
    from app.store.customers import create_customer
    from app.store.db import database
    from app.store.rules import push_rules
    from app.store.sources import create_source
    from app.store.tenants import create_tenant
    from tests.reliability.load import basic

    tenant, _, token = create_tenant("Load Test")
    for slug, cents in wallets.items():
        create_customer(tenant, slug, slug.title(), cents)
    push_rules(tenant, {"load.rules": rules}, by="tests")
    source, secret = create_source(tenant, "Load", "home")
    for name, value in source_options.items():  # e.g. rate_limit, when sources have it
        setattr(source, name, value)
    if source_options:
        source.save()
    database.close()
    return Credentials(
        basic(source.api_key, secret), f"Bearer {token}", source.public_id, tenant.id
    )


def add_destinations(
    tenant_id: int, paths: dict[str, str], buyer_url: str, retry_schedule: list[int] | None
) -> None:
    """Give each customer (slug: path) an HTTP destination at that path of the buyer."""
    from app.store.db import database
    from app.store.destinations import create_destination
    from app.store.models import Customer

    for customer in Customer.select().where(Customer.tenant == tenant_id):
        values = {"name": customer.slug, "kind": "http", "url": buyer_url + paths[customer.slug]}
        create_destination(customer.tenant, {**values, "retry_schedule": retry_schedule}, customer)
    database.close()


@dataclass
class WorkerProcess:
    """A `sluice worker` process and the id it registered under."""

    process: subprocess.Popen
    id: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker_factory(database_url, tmp_path):
    """Return start(): a `sluice worker` process on the test database, ready once it holds
    its session lock (it listens by then); stopped, or killed, at the end."""
    from app.store.db import database
    from app.store.deliveries import WORKER_LOCK

    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [Path(sys.executable).parent / "sluice", "worker"],
                cwd=ROOT,
                env={**os.environ, "SLUICE_DATABASE_URL": database_url, "SLUICE_LOG_LEVEL": "INFO"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the worker exited:\n{log_path.read_text()[-3000:]}")
            row = database.execute_sql(
                "SELECT w.id FROM delivery_worker w JOIN pg_locks l ON l.locktype = 'advisory'"
                " AND l.classid::bigint = %s AND l.objid::bigint = w.id AND l.objsubid = 2"
                " AND l.granted AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database()) WHERE w.pid = %s",
                (WORKER_LOCK, process.pid),
            ).fetchone()
            if row:
                database.close()
                worker = WorkerProcess(process, row[0], log_path)
                started.append(worker)
                return worker
            threading.Event().wait(0.05)
        process.kill()
        pytest.fail(f"the worker did not start:\n{log_path.read_text()[-3000:]}")

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=10)


@pytest.fixture
def gunicorn_factory():
    """Return start(database_url, workers=4, env=None): a running gunicorn, stopped at the end."""
    started: list[Gunicorn] = []

    def start(database_url: str, workers: int = 4, env: dict[str, str] | None = None):
        server = Gunicorn(database_url, workers, {**UNLIMITED, **(env or {})})
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def postgres_binaries() -> Path | None:
    """Return the directory holding initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for directory in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
            return Path(directory)
    return None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on its own port, that it may stop and start.

    The shared PostgreSQL is never stopped: other tests and CI use it at the same time.
    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
    """

    binaries: Path
    directory: Path
    port: int

    @property
    def as_owner(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/sluice"

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [
            *self.as_owner,
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.directory / "data"),
        ]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, check=check, timeout=60
        )

    def init(self) -> None:
        subprocess.run(
            [
                *self.as_owner,
                str(self.binaries / "initdb"),
                "-D",
                str(self.directory / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            # No fsync (the tests crash PostgreSQL, never the machine: what it wrote is
            # kept), but synchronous commits, as in production: a crash loses what an
            # asynchronous commit had not written yet.
            "-c fsync=off -c synchronous_commit=on -c full_page_writes=off "
            "-c max_connections=60"
        )
        self.ctl("-o", options, "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "-w", "-t", "60", "stop", check=False)

    def kill(self) -> None:
        """Stop at once, as a crash would (immediate mode: no shutdown checkpoint)."""
        self.stop("immediate")


@pytest.fixture(scope="module")
def private_postgres():
    """Return a running PrivatePostgres with an empty database `sluice`; removed at the end."""
    if not PG_URL:
        message = (
            "the database outage test runs with the PostgreSQL tests (SLUICE_TEST_DATABASE_URL)"
        )
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    binaries = postgres_binaries()
    if binaries is None:
        pytest.fail(
            "initdb and pg_ctl are needed to run a private PostgreSQL for the outage test: "
            "install the PostgreSQL server (Debian: apt-get install postgresql)"
        )
    directory = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = PrivatePostgres(binaries, directory, free_port())
    try:
        cluster.init()
        cluster.start()
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres"
        )
        connection.close()
        yield cluster
    finally:
        cluster.kill()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def private_database(private_postgres):
    """Return the private cluster with a new, empty database `sluice` for this test."""
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=private_postgres.port, user="postgres", dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS sluice WITH (FORCE)")
        cursor.execute("CREATE DATABASE sluice")
    connection.close()
    return private_postgres


def kill_worker(server: Gunicorn) -> int:
    """SIGKILL one gunicorn worker; return its pid."""
    pid = server.worker_pids()[0]
    os.kill(pid, signal.SIGKILL)
    return pid
