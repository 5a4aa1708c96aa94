"""The delivery worker: claims due deliveries and sends them, many at once, until stopped;
runs the background jobs (bulk reprocessing) in between.

One loop does the worker's database work (app/store/deliveries.py): it claims as many due
deliveries as it has free threads, hands each to a thread that sends it (app/delivery), and
settles the attempts that have ended, as many as there are, in one transaction. When it has
nothing to do it waits: on PostgreSQL until a NOTIFY says a delivery became due (a sale's
commit sends it), a thread ends an attempt, or the next retry is due; on SQLite it polls.
Every `idle_wait` seconds it also makes due again what a gone worker left claimed, and
every `withheld_every` seconds it routes the withheld leads that fit their tenants'
monthly thresholds again (app/services/withheld.py), oldest first. Run one
worker on SQLite, as many as needed on PostgreSQL (on any machine): their claims never
overlap. When no due delivery is left to claim, it works on a background job a slice at a
time (app/services/reprocess.py): a job is claimed like a delivery, and each of its leads is
handled and counted in one transaction, so a job a gone worker left is continued where it
stopped.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from app.delivery import new_client
from app.delivery import send as send_message
from app.delivery.schedule import next_attempt_at
from app.domain.clock import utcnow
from app.domain.delivery import DEFAULT_SCHEDULE, DELIVERED, Attempt, Destination, Message
from app.services import reprocess as jobs
from app.services.withheld import release_due
from app.store import deliveries as store
from app.store.db import database
from app.store.destinations import destination_of
from app.store.models import Job

log = logging.getLogger("sluice.worker")
#: The longest wait between two rounds that failed (the database unreachable).
MAX_BACKOFF = 10.0

Send = Callable[[Destination, Message, httpx.Client], Attempt]
#: How often a worker logs what became of its attempts (each delivered one is at DEBUG).
SUMMARY_SECONDS = 60.0
#: The connections a sending thread keeps open, to as many buyers' hosts.
CONNECTIONS_PER_THREAD = 8
#: The shortest wait when a look for due deliveries found one it could not claim yet.
SHORTEST_WAIT = 0.01
#: Seconds between sweeps for deliveries a sale wrote as their destination was removed.
SWEEP_EVERY = 60.0


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs (`sluice worker` options; docs/operations.md)."""

    concurrency: int = 32  # attempts in flight at once
    lease: timedelta = timedelta(seconds=60)  # longer than any attempt may take
    pause: store.PausePolicy = field(default_factory=store.PausePolicy)
    idle_wait: float = 1.0  # the longest wait between looks for due deliveries
    destination_ttl: float = 30.0  # seconds a destination's settings are kept in memory
    settle_batch: int = 256  # the most attempts settled in one transaction
    # The least time between two rounds of settling and claiming: what arrives meanwhile
    # (ended attempts, sales) is settled or claimed together, in one statement.
    gather: float = 0.02
    # Background jobs (bulk reprocessing) run when the due deliveries are all claimed, a
    # slice at a time: at most job_batch leads and job_slice seconds, then deliveries again.
    job_batch: int = 50
    job_slice: float = 0.1
    job_lease: timedelta = timedelta(seconds=60)  # a job's claim, renewed by each lead
    withheld_every: float = 5.0  # seconds between looks for withheld leads that fit now
    withheld_batch: int = 100  # the most withheld leads routed in one look


class Worker:
    """A delivery worker; `run` until `stop` is set, or `drain` what is due now."""

    def __init__(self, settings: WorkerSettings | None = None, send: Send = send_message):
        self.settings = settings or WorkerSettings()
        self.send = send
        self.id: int | None = None
        self._destinations: dict[tuple[int, datetime], tuple[float, Destination]] = {}
        # A thread that ends an attempt queues it and rings the bell, waking the loop.
        self._ended: queue.SimpleQueue[tuple[store.Claimed, store.Settlement | None]]
        self._ended = queue.SimpleQueue()
        self._bell: socket.socket | None = None  # read by the loop (`_open_bell`)
        self._ringer: socket.socket | None = None
        self._in_flight = 0  # claimed and not yet settled (the loop's own count)
        self._released_at = float("-inf")  # when it last looked for abandoned claims
        self._swept_at = float("-inf")  # when it last canceled removed destinations' deliveries
        self._withheld_at = float("-inf")  # when it last looked for withheld leads to route
        self._due: tuple[float, datetime | None] | None = None  # (looked at, next due)
        self.settled = 0  # attempts ended so far
        self._tally: Counter[str] = Counter()  # settled since the last summary, by status
        self._summarized = time.monotonic()
        # Each sending thread has its own HTTP client, its connections reused (see `_client`).
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()
        self._job: Job | None = None  # the background job it works on
        self._jobs_looked_at = float("-inf")  # when it last looked for a job
        self._look_for_jobs = True  # woken by a NOTIFY: a job may have been queued
        self.job_leads = 0  # background jobs' leads handled so far

    def run(self, stop: threading.Event) -> None:
        """Send due deliveries until `stop` is set; attempts in flight then end and are
        settled."""
        self.id = store.register_worker(socket.gethostname(), os.getpid())
        waker = store.Waker(self.id)
        log.info("worker %s started (concurrency %d)", self.id, self.settings.concurrency)
        pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="delivery")
        bell = self._open_bell()
        failures = 0  # rounds failed in a row
        try:
            while not stop.is_set():
                try:
                    self._step(pool)
                    stepped = time.monotonic()
                    waker.wait(self._wait_seconds(), bell)
                    if waker.job_queued:
                        waker.job_queued, self._look_for_jobs = False, True
                except Exception:
                    # The database restarted or is unreachable: what the threads sent but
                    # could not settle stays claimed, and is sent again (at least once).
                    failures += 1
                    delay = min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1))
                    log.exception("a round failed; the worker tries again in %.1f s", delay)
                    self._recover(waker, stop, delay)
                    continue
                failures = 0
                early = self.settings.gather - (time.monotonic() - stepped)
                if early > 0 and self._has_room():
                    time.sleep(early)  # busy: let more gather for the next round
        finally:
            pool.shutdown(wait=True)
            try:
                self._release_job()
                self._settle_ended()
                self._summarize(time.monotonic())
            finally:
                self._close_bell()
                self._close_clients()
                waker.close()
                store.stop_worker(self.id)
                database.close()
                log.info("worker %s stopped", self.id)

    def _recover(self, waker: store.Waker, stop: threading.Event, delay: float) -> None:
        """Wait `delay`, then drop the loop's connection and listen again; a failure here
        is the next round's to report."""
        stop.wait(delay)
        try:
            if not database.is_closed():
                database.close()
            waker.reconnect()
        except Exception as error:
            log.warning("the worker cannot reach the database yet: %s", error)

    def drain(self) -> int:
        """Send every delivery due now (retries falling due meanwhile too) and return how
        many attempts ended; for `sluice worker --once` and tests."""
        self.id = self.id or store.register_worker(socket.gethostname(), os.getpid())
        waker = store.Waker(self.id)  # holds the worker's lock: its claims are not abandoned
        self._released_at = self._swept_at = self._withheld_at = float("-inf")
        before = self.settled
        bell = self._open_bell()
        try:
            with ThreadPoolExecutor(self.settings.concurrency) as pool:
                while self._step(pool) or self._in_flight:
                    if self._in_flight:
                        select.select([bell], [], [], self.settings.idle_wait)
        finally:
            self._release_job()
            self._close_bell()
            self._close_clients()
            waker.close()
        return self.settled - before

    def _open_bell(self) -> socket.socket:
        """Return the socket a thread that ended an attempt makes readable (`_attempt`)."""
        self._bell, self._ringer = socket.socketpair()
        self._bell.setblocking(False)
        return self._bell

    def _close_bell(self) -> None:
        for end in (self._bell, self._ringer):
            if end is not None:
                end.close()
        self._bell = self._ringer = None

    def _step(self, pool: ThreadPoolExecutor) -> int:
        """Settle the attempts that ended, make abandoned claims due now and then, claim
        due deliveries for the free threads and start them, and when none is left to claim
        work on a background job for a slice; return how many deliveries it claimed and
        job leads it handled."""
        assert self.id is not None
        self._settle_ended()
        now = time.monotonic()
        if now - self._summarized >= SUMMARY_SECONDS:
            self._summarize(now)
        if now - self._released_at >= self.settings.idle_wait:
            self._released_at = now
            released = store.release_abandoned(self.id)
            if released:
                log.warning("%d deliveries left sending by a gone worker are due again", released)
        if now - self._swept_at >= SWEEP_EVERY:
            self._swept_at = now
            orphaned = store.cancel_orphaned()
            if orphaned:
                log.info("%d deliveries to removed destinations canceled", orphaned)
        if now - self._withheld_at >= self.settings.withheld_every:
            self._withheld_at = now
            self._release_withheld()
        free = self.settings.concurrency - self._in_flight
        if free <= 0:
            return 0
        claimed = store.claim_due(self.id, free, self.settings.lease)
        for delivery in claimed:
            self._in_flight += 1
            pool.submit(self._attempt, delivery)
        if len(claimed) == free:
            return len(claimed)  # more may be due: deliveries first
        return len(claimed) + self._work_on_jobs(now)

    def _work_on_jobs(self, now: float) -> int:
        """Handle a slice of a background job's leads (claiming one if it has none and may
        look); return how many it handled."""
        assert self.id is not None
        settings = self.settings
        if self._job is None:
            if not self._look_for_jobs and now - self._jobs_looked_at < settings.idle_wait:
                return 0
            self._look_for_jobs = False
            self._jobs_looked_at = now
            self._job = jobs.claim_job(self.id, settings.job_lease)
            if self._job is None:
                return 0
            log.info("worker %s: working on job %s", self.id, self._job.public_id)
        handled, ends = 0, now + settings.job_slice
        while handled < settings.job_batch:
            one, more = jobs.advance_job(self._job, self.id, settings.job_lease)
            handled += one
            if not more:
                log.info("worker %s: job %s left or finished", self.id, self._job.public_id)
                self._job = None
                self._look_for_jobs = True  # another may be waiting
                break
            if time.monotonic() >= ends:
                break
        self.job_leads += handled
        return handled

    def _release_job(self) -> None:
        """Give up the job it works on, for another worker to continue at once."""
        if self._job is not None and self.id is not None:
            try:
                jobs.release_job(self._job, self.id)
            except Exception:  # its claim then ends with its lease, or its session lock
                log.exception("worker %s: job %s not released", self.id, self._job.public_id)
            self._job = None

    def _release_withheld(self) -> None:
        """Route the withheld leads that fit now, a batch at a time; a failure is logged and
        left for the next look (deliveries go on)."""
        batch = self.settings.withheld_batch
        try:
            released = release_due(limit=batch)
        except Exception:
            log.exception("routing withheld leads failed; the worker tries again later")
            return
        if released >= batch:
            self._withheld_at = float("-inf")  # more may fit: look again next round

    def _summarize(self, now: float) -> None:
        """Log what became of the attempts settled since the last summary, if any."""
        if self._tally:
            log.info(
                "worker %s: %d attempt(s) in the last %.0f s: %s",
                self.id,
                sum(self._tally.values()),
                now - self._summarized,
                ", ".join(f"{count} {status}" for status, count in self._tally.most_common()),
            )
        self._tally.clear()
        self._summarized = now

    def _has_room(self) -> bool:
        """Tell whether more than a quarter of the threads are free: then waiting for a
        batch to gather costs no attempt its thread, only a few milliseconds of latency."""
        sending = self._in_flight - self._ended.qsize()  # ended attempts free their thread
        return self.settings.concurrency - sending > self.settings.concurrency // 4

    def _wait_seconds(self) -> float:
        """Return how long the loop may wait: until the next retry is due, at most idle_wait.

        Only an idle worker looks, at most once every idle_wait seconds unless what it saw
        has come due: a retry written meanwhile by another worker starts up to idle_wait
        late, a look less for every delivery when deliveries come one by one.
        """
        if self._job is not None:
            return 0.0  # a job's next slice
        if self._in_flight:
            return self.settings.idle_wait  # an ending attempt rings the bell
        now = time.monotonic()
        looked = self._due
        if looked is None or now - looked[0] >= self.settings.idle_wait or _due(looked[1]):
            looked = self._due = (now, store.next_due_at())
        due = looked[1]
        if due is None:
            return self.settings.idle_wait
        seconds = (due - utcnow()).total_seconds()
        return max(SHORTEST_WAIT, min(self.settings.idle_wait, seconds))

    def _settle_ended(self) -> None:
        """Settle every attempt that ended, a batch at a time, each batch in one transaction."""
        try:
            while self._bell is not None and self._bell.recv(4096):
                pass
        except BlockingIOError:
            pass  # rung as many times as it was, until now
        ended = []
        while True:
            try:
                ended.append(self._ended.get_nowait())
            except queue.Empty:
                break
        if not ended:
            return
        self._in_flight -= len(ended)
        self.settled += len(ended)
        settlements = [settlement for _, settlement in ended if settlement is not None]
        size = self.settings.settle_batch
        for start in range(0, len(settlements), size):
            self._settle(settlements[start : start + size])

    def _settle(self, settlements: list[store.Settlement]) -> None:
        """Settle attempts in one transaction; if that fails, one by one (a delivery that
        cannot be settled is left to its lease)."""
        assert self.id is not None
        try:
            results = store.settle(self.id, settlements, self.settings.pause)
        except Exception:
            if not database.is_closed():
                database.close()  # a broken connection is replaced on the next use
            if len(settlements) > 1:
                for settlement in settlements:
                    self._settle([settlement])
                return
            log.exception(
                "delivery %s: the attempt could not be settled", settlements[0].claimed.public_id
            )
            return
        for settlement, settled in zip(settlements, results, strict=True):
            delivery = settlement.claimed
            outcome = "left" if settled.lease_lost else settled.status
            self._tally[outcome] += 1
            # Delivered attempts at DEBUG (their rows say it all; a line each cost a tenth of
            # the worker's CPU), the rest at INFO, and a summary every minute (`_summarize`).
            log.log(
                logging.DEBUG if outcome == DELIVERED else logging.INFO,
                "delivery %s to %s: attempt %d %s (%s) in %.0f ms -> %s",
                delivery.public_id,
                delivery.destination_ref,
                delivery.attempts,
                settlement.outcome,
                settlement.status_code or settlement.error,
                settlement.duration_ms,
                "left to another worker" if settled.lease_lost else settled.status,
            )
            if settled.paused:
                log.warning("destination %s paused after failing", delivery.destination_ref)

    def _attempt(self, delivery: store.Claimed) -> None:
        """Send one claimed delivery (in a thread of the pool) and hand the attempt to the
        loop to settle; a failure before it ends leaves the delivery to its lease."""
        settlement = None
        try:
            destination = self._destination(delivery)
            message = Message(
                delivery.public_id, delivery.event, delivery.payload, delivery.created_at
            )
            started_at = utcnow()
            attempt = self.send(destination, message, self._client())
            retry_at = None
            if attempt.outcome == "retry":
                retry_at = next_attempt_at(
                    delivery.tries,
                    utcnow(),
                    schedule=delivery.retry_schedule or DEFAULT_SCHEDULE,
                    retry_after_seconds=attempt.retry_after_seconds,
                )
            settlement = store.Settlement(
                delivery,
                started_at=started_at,
                duration_ms=attempt.duration_ms,
                outcome=attempt.outcome,
                status_code=attempt.status_code,
                answer=attempt.answer,
                error=attempt.error,
                next_attempt_at=retry_at,
            )
        except Exception:
            log.exception("delivery %s: the attempt failed", delivery.public_id)
        finally:
            if not database.is_closed():  # a destination read from the database
                database.close()
            self._ended.put((delivery, settlement))
            assert self._ringer is not None
            self._ringer.send(b".")

    def _client(self) -> httpx.Client:
        """Return this thread's HTTP client, made on its first attempt.

        A client of its own for each thread rather than one shared: a thread sends one
        request at a time, so its pool holds a connection or two per buyer and hands one
        out without the lock and the scan of every pooled connection a shared pool of 32
        takes on each request (some 15% of the worker's CPU under load).
        """
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = new_client(CONNECTIONS_PER_THREAD)
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _close_clients(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

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


def _due(at: datetime | None) -> bool:
    """Tell whether a time seen as the next due one has come."""
    return at is not None and at <= utcnow()
