"""`sluice worker`: --once sends what is due; a worker process stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.store.destinations import create_destination
from app.store.models import Customer, Delivery
from tests.conftest import SEED_LEAD
from tests.servers import ROOT


@pytest.fixture
def sold(world, db, secret_key, buyer, database_url, monkeypatch):
    """A sale waiting for delivery to the buyer; SLUICE_DATABASE_URL points at its database."""
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    for customer in Customer.select():
        create_destination(
            customer.tenant, {"name": "x", "kind": "http", "url": buyer.url + "/ok"}, customer
        )
    db.close()
    assert world.post(SEED_LEAD).json["status"] == "assigned"
    return buyer


def test_once_sends_what_is_due_and_exits(sold, db):
    result = CliRunner().invoke(main, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 attempt(s) made" in result.output
    assert len(sold.received) == 1 and Delivery.get().status == "delivered"


def test_a_worker_process_delivers_and_stops_on_sigterm(sold, db):
    process = subprocess.Popen(
        [Path(sys.executable).parent / "sluice", "worker", "--concurrency", "2"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not sold.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sold.received, "the worker delivered nothing within 15 s"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert "stopped" in output


def test_a_worker_carries_on_after_the_database_drops_its_connections(
    sold, db, world, database_url, seed_lead
):
    from app.store.db import is_postgresql

    if not is_postgresql():
        pytest.skip("PostgreSQL: a restart or a failover drops every connection")
    separator = "&" if "?" in database_url else "?"
    env = {**os.environ, "SLUICE_DATABASE_URL": f"{database_url}{separator}application_name=w1"}
    process = subprocess.Popen(
        [Path(sys.executable).parent / "sluice", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert received(sold, 1)
        # As a restart would: every connection of the worker's is dropped.
        db.execute_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'w1'"
        )
        db.close()
        lead = {**seed_lead, "phone": "555-987-6543", "email": "another@example.com"}
        assert world.post(lead).json["status"] == "assigned"
        assert received(sold, 2), "nothing delivered after the worker's connections dropped"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "a round failed; the worker tries again" in output


def received(buyer, count: int) -> bool:
    """Wait up to 15 s for the buyer to have received `count` requests."""
    deadline = time.monotonic() + 15
    while len(buyer.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(buyer.received) >= count
