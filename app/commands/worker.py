"""`sluice worker`: send due deliveries and run background jobs until stopped
(docs/delivery.md, docs/operations.md)."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

import click

from app.commands.common import settings, with_database
from app.services.worker import Worker, WorkerSettings
from app.store.deliveries import PausePolicy


def worker_settings(config: dict, concurrency: int | None = None) -> WorkerSettings:
    """Return a worker's settings from the SLUICE_* settings (and a --concurrency)."""
    return WorkerSettings(
        concurrency=concurrency or config["WORKER_CONCURRENCY"],
        pause=PausePolicy(
            failures=config["PAUSE_AFTER_FAILURES"],
            after=timedelta(hours=config["PAUSE_AFTER_HOURS"]),
        ),
    )


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    default=None,
    help="Attempts in flight at once [default: SLUICE_WORKER_CONCURRENCY, 32].",
)
@click.option("--once", is_flag=True, help="Send what is due now, run the queued jobs, then exit.")
@with_database
def worker_command(concurrency: int | None, once: bool) -> None:
    """Send due deliveries to customers' destinations and tenants' webhooks until stopped;
    run the background jobs (bulk reprocessing) when no delivery is due.

    Run one on SQLite; on PostgreSQL run as many as needed, on any machine. SIGTERM or
    Ctrl-C stops it after the attempts in flight.
    """
    config = settings()
    logging.basicConfig(
        level=config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker = Worker(worker_settings(config, concurrency))
    if once:
        attempts = worker.drain()
        click.echo(f"{attempts} attempt(s) made, {worker.job_leads} job lead(s) handled")
        return
    stop = threading.Event()

    def stop_on_signal(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    worker.run(stop)
