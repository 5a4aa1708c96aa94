"""The delivery worker: claims due deliveries and sends them, many at once, until stopped.

One loop claims (app/store/deliveries.py) as many due deliveries as it has free threads;
each thread sends one (app/delivery) and settles it in one transaction. When nothing is due
the loop waits: on PostgreSQL until a NOTIFY says a delivery became due (a sale's commit
sends it) or the next retry is due; on SQLite it polls. Run one worker on SQLite, as many as
needed on PostgreSQL (on any machine): their claims never overlap.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from app.delivery import new_client
from app.delivery import send as send_message
from app.delivery.schedule import next_attempt_at
from app.domain.clock import utcnow
from app.domain.delivery import DEFAULT_SCHEDULE, Attempt, Destination, Message
from app.store import deliveries as store
from app.store.db import database, is_postgresql
from app.store.destinations import destination_of

log = logging.getLogger("sluice.worker")

Send = Callable[[Destination, Message, httpx.Client], Attempt]


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs (`sluice worker` options; docs/operations.md)."""

    concurrency: int = 32  # attempts in flight at once
    lease: timedelta = timedelta(seconds=60)  # longer than any attempt may take
    pause: store.PausePolicy = field(default_factory=store.PausePolicy)
    idle_wait: float = 1.0  # the longest wait between looks for due deliveries
    destination_ttl: float = 30.0  # seconds a destination's settings are kept in memory


class Worker:
    """A delivery worker; `run` until `stop` is set, or `drain` what is due now."""

    def __init__(self, settings: WorkerSettings | None = None, send: Send = send_message):
        self.settings = settings or WorkerSettings()
        self.send = send
        self.id: int | None = None
        self._destinations: dict[tuple[int, datetime], tuple[float, Destination]] = {}
        self._free = threading.Semaphore(self.settings.concurrency)
        self._idle = threading.Condition()
        self._in_flight = 0
        self.settled = 0  # attempts settled so far
        self.client: httpx.Client | None = None  # HTTP connections, reused; open while working

    def run(self, stop: threading.Event) -> None:
        """Send due deliveries until `stop` is set; attempts in flight then finish."""
        self.id = store.register_worker(socket.gethostname(), os.getpid())
        waker = store.Waker(self.id)
        if not is_postgresql():
            released = store.release_abandoned(self.id)
            if released:
                log.warning(
                    "%d deliveries left sending by a stopped worker are due again", released
                )
        log.info("worker %s started (concurrency %d)", self.id, self.settings.concurrency)
        pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="delivery")
        self.client = new_client(self.settings.concurrency)
        try:
            while not stop.is_set():
                if not self._claim_and_submit(pool):
                    waker.wait(self._idle_seconds())
        finally:
            pool.shutdown(wait=True)
            self.client.close()
            waker.close()
            store.stop_worker(self.id)
            database.close()
            log.info("worker %s stopped", self.id)

    def drain(self) -> int:
        """Send every delivery due now (retries falling due meanwhile too) and return how
        many attempts were settled; for `sluice worker --once` and tests."""
        self.id = self.id or store.register_worker(socket.gethostname(), os.getpid())
        waker = store.Waker(self.id)  # holds the worker's lock: its claims are not abandoned
        if not is_postgresql():
            store.release_abandoned(self.id)
        before = self.settled
        try:
            with (
                new_client(self.settings.concurrency) as self.client,
                ThreadPoolExecutor(self.settings.concurrency) as pool,
            ):
                while True:
                    if self._claim_and_submit(pool):
                        continue
                    with self._idle:
                        while self._in_flight:
                            self._idle.wait()
                    if not self._claim_and_submit(pool):
                        break
        finally:
            waker.close()
        return self.settled - before

    def _claim_and_submit(self, pool: ThreadPoolExecutor) -> bool:
        """Claim due deliveries for the free threads and start them; False if none was due."""
        free = self._take_free_slots()
        assert self.id is not None
        claimed = store.claim_due(self.id, free, self.settings.lease)
        for _ in range(free - len(claimed)):
            self._free.release()
        for delivery in claimed:
            with self._idle:
                self._in_flight += 1
            pool.submit(self._attempt, delivery)
        return bool(claimed)

    def _take_free_slots(self) -> int:
        """Wait for at least one free thread; take every free one; return how many."""
        self._free.acquire()
        taken = 1
        while self._free.acquire(blocking=False):
            taken += 1
        return taken

    def _idle_seconds(self) -> float:
        """Return how long to wait for work: until the next retry is due, at most idle_wait."""
        due = store.next_due_at()
        if due is None:
            return self.settings.idle_wait
        return max(0.0, min(self.settings.idle_wait, (due - utcnow()).total_seconds()))

    def _attempt(self, delivery: store.Claimed) -> None:
        """Send one claimed delivery and settle it; a failure to settle leaves it to its lease."""
        try:
            destination = self._destination(delivery)
            message = Message(
                delivery.public_id, delivery.event, delivery.payload, delivery.created_at
            )
            started_at = utcnow()
            assert self.client is not None
            attempt = self.send(destination, message, self.client)
            retry_at = None
            if attempt.outcome == "retry":
                retry_at = next_attempt_at(
                    delivery.tries,
                    utcnow(),
                    schedule=delivery.retry_schedule or DEFAULT_SCHEDULE,
                    retry_after_seconds=attempt.retry_after_seconds,
                )
            assert self.id is not None
            settled = store.settle(
                delivery,
                self.id,
                started_at=started_at,
                duration_ms=attempt.duration_ms,
                outcome=attempt.outcome,
                status_code=attempt.status_code,
                answer=attempt.answer,
                error=attempt.error,
                next_attempt_at=retry_at,
                policy=self.settings.pause,
            )
            log.info(
                "delivery %s to %s: attempt %d %s (%s) in %.0f ms -> %s",
                delivery.public_id,
                delivery.destination_ref,
                delivery.attempts,
                attempt.outcome,
                attempt.status_code or attempt.error,
                attempt.duration_ms,
                settled.status,
            )
            if settled.paused:
                log.warning("destination %s paused after failing", delivery.destination_ref)
        except Exception:
            log.exception("delivery %s: the attempt could not be settled", delivery.public_id)
        finally:
            if not database.is_closed():
                database.close()
            with self._idle:
                self._in_flight -= 1
                self.settled += 1
                self._idle.notify_all()
            self._free.release()

    def _destination(self, delivery: store.Claimed) -> Destination:
        """Return the delivery's destination, its secrets decrypted, kept for a while."""
        key = (delivery.destination_id, delivery.destination_version)
        now = time.monotonic()
        cached = self._destinations.get(key)
        if cached is not None and now - cached[0] < self.settings.destination_ttl:
            return cached[1]
        destination = destination_of(store.destination_row(delivery.destination_id))
        self._destinations[key] = (now, destination)
        return destination
