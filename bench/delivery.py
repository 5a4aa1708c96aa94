"""Benchmark 5: delivery: from a sale's commit to the buyer, one worker's rate, and what a
worker costs the intake beside it (PostgreSQL, gunicorn, `sluice worker`).

Everything runs on this machine: gunicorn serving Sluice (as in the intake benchmark), a
buyer's endpoint (bench/buyer.py: asyncio, answering 200 after 50 ms, recording each
request's `webhook-id` and when it arrived) in a process of its own, and `sluice worker`
processes started and stopped as each part needs. Each of the example solar tenant's three
customers has one HTTP destination at the buyer, so every sale is one delivery.

1. Latency: one idle worker; leads posted one at a time, 20 to 80 ms apart. For each sold
   lead, the time from the intake's answer (the sale committed before it) to the buyer
   receiving its delivery; and, as an upper bound, from the moment the post was sent.
2. Throughput: leads posted with no worker running; then, three times, a worker is started
   and left idle, every delivery is made due in one transaction (its NOTIFY wakes the
   worker) and the run is timed until the last one is settled delivered.
3. The intake beside a worker: wrk against POST /api/leads as in Benchmark 4, without a
   worker, then with one delivering every sale as it is made, in alternating rounds.

Environment: SLUICE_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
SLUICE_BENCH_SECONDS and SLUICE_BENCH_ROUNDS (part 3, as in Benchmark 4),
SLUICE_BENCH_DELIVERIES (part 2, default 3000), SLUICE_BENCH_PARTS (e.g. `latency,throughput`
to run some parts only, with --no-write), SLUICE_BENCH_SLUICE_DIR (run the worker and the
server from another checkout, to measure what a change gained).
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import intake
from bench.report import Report

ROOT = intake.ROOT
DATABASE_URL = intake.DATABASE_URL
SLUICE_DIR = intake.SLUICE_DIR
SECONDS = intake.SECONDS
ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "3"))
LATENCY_LEADS = 300
GAPS = (0.02, 0.08)  # seconds between two posts of the latency part
DELIVERIES = int(os.environ.get("SLUICE_BENCH_DELIVERIES", "3000"))
RUNS = 3
BUYER_DELAY = 0.05
PARTS = tuple(
    part
    for part in os.environ.get("SLUICE_BENCH_PARTS", "latency,throughput,intake").split(",")
    if part
)
FIRST_LEAD = 6_000_000  # lead numbers of parts 1 and 2 (wrk's runs use those below)
LATENCY_TARGETS_MS = (200, 1000)  # p50, p99
RATE_TARGET = 300  # deliveries/s
INTAKE_TARGET = 0.85  # the intake's throughput with a worker, over without


def _lead(n: int) -> bytes:
    """Return the body of the example solar lead numbered n (its own phone and email)."""
    phone = f"555-{200 + n // 10000 % 800:03d}-{n % 10000:04d}"
    return orjson.dumps(
        {
            "first_name": "Katy",
            "last_name": "Berry",
            "email": f"lead{n}@example.com",
            "phone": phone,
            "address_1": "742 Orchard Lane",
            "city": "Paradise Bay",
            "state": "FL",
            "zip": "33139",
            "homeowner": True,
            "monthly_bill": 180,
            "roof_type": "tile",
            "credit_score": 700,
        }
    )


def _cpu_seconds(pid: int) -> float:
    """Return the CPU seconds a live process has spent (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_seconds() -> float:
    return sum(seconds for _, command, _, seconds in intake._proc_stats() if command == "postgres")


@dataclass
class World:
    """The bench's schema, its tenant, and the processes serving it."""

    url: str  # the schema's database URL
    auth: str  # the bench source's Authorization header
    env: dict[str, str]  # what the server and the worker need
    buyer: subprocess.Popen
    buyer_url: str
    connection: Any  # psycopg2, autocommit, for the bench's own queries
    log_dir: Path
    schema: str
    admin: Any  # psycopg2, autocommit, on the database itself (drops the schema)
    server: intake.Server | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def start_server(self) -> intake.Server:
        self.server = intake.Server(["-c", "gunicorn.conf.py", "wsgi:app"], self.env, SLUICE_DIR)
        return self.server

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start_worker(self) -> subprocess.Popen:
        """Start `sluice worker` and return once it listens for due deliveries."""
        log = open(self.log_dir / f"worker-{len(self.workers)}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-c", "from app.cli import main; main()", "worker"],
            cwd=SLUICE_DIR,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=log,
        )
        log.close()
        self.workers.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # its session lock is taken after its LISTEN
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited; see {self.log_dir}")
            locked = self.query(
                "SELECT 1 FROM delivery_worker w JOIN pg_locks l ON l.locktype = 'advisory'"
                " AND l.objid::bigint = w.id AND l.objsubid = 2 AND l.granted"
                " AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " WHERE w.pid = %s AND w.stopped_at IS NULL",
                (process.pid,),
            )
            if locked:
                return process
            time.sleep(0.05)
        raise RuntimeError("the worker did not start")

    def stop_worker(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)

    def buyer_get(self, path: str):
        with urllib.request.urlopen(self.buyer_url + path, timeout=30) as answer:
            return orjson.loads(answer.read())

    def statuses(self) -> dict[str, int]:
        return dict(self.query("SELECT status, count(*) FROM delivery GROUP BY 1"))


def _free_port() -> int:
    return intake._free_port()


def set_up() -> World:
    """Create the schema with the example tenant, its customers' destinations at a new buyer
    process; return the world (no server or worker running yet)."""
    import psycopg2

    from app import create_app
    from app.store import crypto
    from app.store.db import database
    from app.store.destinations import create_destination
    from app.store.models import Customer

    admin, schema, url = intake.new_schema()
    port = _free_port()
    buyer = subprocess.Popen(
        [sys.executable, "-m", "bench.buyer", str(port), str(BUYER_DELAY)], cwd=ROOT
    )
    key = crypto.new_key()
    env = {"SLUICE_DATABASE_URL": url, "SLUICE_SECRET_KEY": key, "SLUICE_LOG_LEVEL": "INFO"}
    log_dir = Path(tempfile.mkdtemp("-sluice-bench"))
    world = World(url, "", env, buyer, f"http://127.0.0.1:{port}", None, log_dir, schema, admin)
    try:
        world.auth, _ = intake._set_up(url)
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": key})
        with app.app_context():
            for customer in Customer.select():
                values = {"name": "bench", "kind": "http", "url": f"{world.buyer_url}/leads"}
                create_destination(customer.tenant, values, customer)
            database.close()
        world.connection = psycopg2.connect(url)
        world.connection.autocommit = True
        deadline = time.monotonic() + 30
        while True:
            try:
                world.buyer_get("/count")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    except BaseException:
        tear_down(world)
        raise
    return world


def tear_down(world: World) -> None:
    for process in world.workers:
        if process.poll() is None:
            process.kill()
            process.wait()
    world.stop_server()
    world.buyer.kill()
    world.buyer.wait()
    if world.connection is not None:
        world.connection.close()
    with world.admin.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{world.schema}" CASCADE')
    world.admin.close()


class Poster:
    """One client on a keep-alive connection to the server, posting leads."""

    def __init__(self, world: World) -> None:
        assert world.server is not None
        self.connection = http.client.HTTPConnection("127.0.0.1", world.server.port, timeout=30)
        self.auth = world.auth

    def post(self, n: int) -> tuple[float, float, dict]:
        """Post lead n; return (time sent, time answered, the answer)."""
        sent = time.time()
        self.connection.request(
            "POST",
            "/api/leads",
            body=_lead(n),
            headers={"Content-Type": "application/json", "Authorization": self.auth},
        )
        response = self.connection.getresponse()
        body = response.read()
        answered = time.time()
        if response.status != 201:
            raise RuntimeError(f"the intake answered {response.status}: {body[:300]!r}")
        return sent, answered, orjson.loads(body)


@dataclass
class Latency:
    from_answer_ms: list[float]
    from_post_ms: list[float]
    leads: int
    sold: int


def measure_latency(world: World) -> Latency:
    """Post leads one at a time to an idle worker; time each sale to its buyer."""
    rng = random.Random(5)
    worker = world.start_worker()
    poster = Poster(world)
    posted = {}
    for n in range(FIRST_LEAD, FIRST_LEAD + LATENCY_LEADS):
        sent, answered, answer = poster.post(n)
        if answer["status"] == "assigned":
            posted[answer["lead_public_id"]] = (sent, answered)
        time.sleep(rng.uniform(*GAPS))
    poster.connection.close()
    deadline = time.monotonic() + 30
    while world.buyer_get("/count") < len(posted) and time.monotonic() < deadline:
        time.sleep(0.05)
    world.stop_worker(worker)
    lead_of = dict(
        world.query(
            "SELECT d.public_id, l.public_id FROM delivery d JOIN lead l ON l.id = d.lead_id"
        )
    )
    first: dict[str, float] = {}
    for webhook_id, received, _ in world.buyer_get("/records"):
        lead = lead_of.get(webhook_id)
        if lead is not None and lead not in first:
            first[lead] = received
    missing = set(posted) - set(first)
    if missing:
        raise RuntimeError(f"{len(missing)} sold leads never reached the buyer")
    return Latency(
        from_answer_ms=[(first[lead] - posted[lead][1]) * 1000 for lead in posted],
        from_post_ms=[(first[lead] - posted[lead][0]) * 1000 for lead in posted],
        leads=LATENCY_LEADS,
        sold=len(posted),
    )


@dataclass
class Run:
    seconds: float
    deliveries: int
    worker_cpu: float  # seconds
    database_cpu: float
    buyer_cpu: float
    received: int  # requests the buyer received during the run
    attempts: int  # attempt rows written

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


def post_many(world: World, first: int, count: int, clients: int = 8) -> int:
    """Post leads first .. first+count-1 from several clients; return how many were sold."""

    def post_share(offset: int) -> int:
        poster = Poster(world)
        sold = sum(
            poster.post(n)[2]["status"] == "assigned"
            for n in range(first + offset, first + count, clients)
        )
        poster.connection.close()
        return sold

    with ThreadPoolExecutor(clients) as pool:
        return sum(pool.map(post_share, range(clients)))


def measure_throughput(world: World) -> list[Run]:
    """Post leads with no worker running; then time a worker delivering them all, RUNS times."""
    world.query("UPDATE delivery SET status = 'canceled' WHERE status = 'pending'")
    [(last,)] = world.query("SELECT coalesce(max(id), 0) FROM delivery")
    sold = post_many(world, FIRST_LEAD + LATENCY_LEADS, DELIVERIES)
    runs = []
    for _ in range(RUNS):
        # This part's deliveries parked, so that the worker starts idle, then made due.
        world.query("UPDATE delivery SET status = 'canceled' WHERE id > %s", (last,))
        world.query("DELETE FROM delivery_attempt")
        world.query("DELETE FROM lead_event WHERE kind = 'delivered'")
        world.query("VACUUM ANALYZE delivery")
        world.query("VACUUM ANALYZE delivery_attempt")
        world.query("VACUUM ANALYZE lead_event")
        worker = world.start_worker()
        received_before = world.buyer_get("/count")
        cpu_before = (_cpu_seconds(worker.pid), _postgres_seconds(), _cpu_seconds(world.buyer.pid))
        started = time.monotonic()
        [(due,)] = world.query(
            "WITH due AS (UPDATE delivery SET status = 'pending', attempts = 0, tries = 0,"
            " next_attempt_at = now() AT TIME ZONE 'UTC', delivered_at = NULL"
            " WHERE id > %s RETURNING 1) SELECT count(*) FROM due",
            (last,),
        )
        deadline = started + due / 20 + 60
        while time.monotonic() < deadline:  # a cheap look: the status index's few entries
            [(busy,)] = world.query(
                "SELECT EXISTS (SELECT 1 FROM delivery WHERE status IN ('pending', 'sending'))"
            )
            if not busy:
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
        [(left,)] = world.query(
            "SELECT count(*) FROM delivery WHERE id > %s AND status <> 'delivered'", (last,)
        )
        cpu_after = (_cpu_seconds(worker.pid), _postgres_seconds(), _cpu_seconds(world.buyer.pid))
        world.stop_worker(worker)
        if left:
            raise RuntimeError(f"{left} deliveries not delivered in time; see {world.log_dir}")
        [(attempts,)] = world.query("SELECT count(*) FROM delivery_attempt")
        used = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
        runs.append(
            Run(
                seconds,
                due,
                *used,
                received=world.buyer_get("/count") - received_before,
                attempts=attempts,
            )
        )
        print(f"  throughput: {due / seconds:,.0f} deliveries/s ({due} in {seconds:.2f} s)")
    assert sold == runs[0].deliveries, (sold, runs[0].deliveries)
    return runs


def measure_sender(world: World, attempts: int = 2000, threads: int = 16) -> float:
    """Return the CPU in ms of one attempt through the sender alone (app.delivery.send:
    the body, its signature, httpx), from `threads` threads with a client each as the
    worker's, against the same buyer: the floor of what a worker's attempt costs."""
    import resource
    import threading

    from app import create_app
    from app.delivery import new_client, send
    from app.domain.delivery import Message
    from app.store.db import database
    from app.store.destinations import destination_of
    from app.store.models import Delivery, DeliveryDestination

    app = create_app({"DATABASE_URL": world.url, "SECRET_KEY": world.env["SLUICE_SECRET_KEY"]})
    with app.app_context():
        delivery = Delivery.select().order_by(Delivery.id.desc()).get()
        destination = destination_of(DeliveryDestination.get_by_id(delivery.destination_id))
        message = Message(delivery.public_id, delivery.event, delivery.payload, delivery.created_at)
        database.close()
    local = threading.local()
    clients = []

    def attempt(_: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = new_client(8)
            clients.append(client)
        assert send(destination, message, client).outcome == "delivered"

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(attempt, range(threads * 4)))  # connections open, code warm
        before = cpu()
        list(pool.map(attempt, range(attempts)))
        used = cpu() - before
    for client in clients:
        client.close()
    return 1000 * used / attempts


def measure_clients(requests: int = 2000) -> dict[str, float]:
    """Return the CPU in ms of one POST of a delivery-sized body by each HTTP client, in one
    thread on a kept-alive connection, against a buyer that answers at once: what the
    client library itself costs (httpx is the sender's; the others for comparison)."""
    import resource

    import httpx

    port = _free_port()
    buyer = subprocess.Popen([sys.executable, "-m", "bench.buyer", str(port), "0"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/leads"
    body = _lead(1) * 2
    headers = {"Content-Type": "application/json", "webhook-id": "msg_bench"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def plain() -> None:
            connection.request("POST", "/leads", body=body, headers=headers)
            connection.getresponse().read()

        client = httpx.Client(timeout=httpx.Timeout(10, connect=5))

        def with_httpx() -> None:
            client.post(url, content=body, headers=headers).read()

        posts = {"http.client": plain, "httpx": with_httpx}
        try:
            import urllib3

            pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=10), retries=False)
            posts["urllib3"] = lambda: pool.request("POST", url, body=body, headers=headers)
        except ImportError:
            pass
        costs = {}
        for name, post in posts.items():
            for _ in range(200):
                post()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            before = usage.ru_utime + usage.ru_stime
            for _ in range(requests):
                post()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            costs[name] = 1000 * (usage.ru_utime + usage.ru_stime - before) / requests
        connection.close()
        client.close()
        return costs
    finally:
        buyer.kill()
        buyer.wait()


@dataclass
class IntakeArm:
    measure: intake.Measure
    worker_cpu: float = 0.0  # ms a request
    delivered: int = 0  # requests the buyer received during the measurement
    backlog: int = 0  # deliveries pending or sending at its end


def measure_intake(world: World) -> tuple[list[IntakeArm], list[IntakeArm], dict[str, int]]:
    """wrk against the intake without and with a worker delivering; (off arms, on arms)."""
    import shutil

    if shutil.which("wrk") is None:
        raise SystemExit("the intake part needs wrk: apt-get install wrk, brew install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(intake.WRK_SCRIPT)
    off: list[IntakeArm] = []
    on: list[IntakeArm] = []
    offset = 0
    world.query("ANALYZE")  # the statistics of the leads parts 1 and 2 wrote
    for round_number in range(ROUNDS):
        order = (False, True) if round_number % 2 == 0 else (True, False)
        for with_worker in order:
            world.query("UPDATE delivery SET status = 'canceled' WHERE status = 'pending'")
            worker = world.start_worker() if with_worker else None
            server = world.start_server()
            try:
                url = server.url + "/api/leads"
                intake.wrk(url, world.auth, intake.WARM_UP_SECONDS, offset, Path(script.name))
                offset += intake.OFFSET_STEP
                before = intake.cpu_now(server)
                worker_before = _cpu_seconds(worker.pid) if worker else 0.0
                received_before = world.buyer_get("/count")
                measure = intake.wrk(url, world.auth, SECONDS, offset, Path(script.name))
                after = intake.cpu_now(server)
                worker_after = _cpu_seconds(worker.pid) if worker else 0.0
                received = world.buyer_get("/count") - received_before
                offset += intake.OFFSET_STEP
                if before is not None and after is not None:
                    measure.cpu = (after - before).per(measure.requests)
                [(backlog,)] = world.query(
                    "SELECT count(*) FROM delivery WHERE status IN ('pending', 'sending')"
                )
                arm = IntakeArm(
                    measure,
                    worker_cpu=1000 * (worker_after - worker_before) / max(measure.requests, 1),
                    delivered=received if worker else 0,
                    backlog=backlog if worker else 0,
                )
                (on if with_worker else off).append(arm)
            finally:
                world.stop_server()
                if worker is not None:
                    world.stop_worker(worker)
            label = "with a worker" if with_worker else "without"
            print(f"  intake {label}: {measure.rps:,.0f} req/s, delivered {arm.delivered}")
    os.unlink(script.name)
    return off, on, intake._outcomes(world.url)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def run() -> Report:
    """Measure delivery: latency, a worker's rate, the intake beside a worker."""
    report = Report("Benchmark 5: delivery (PostgreSQL, gunicorn, sluice worker)", [])
    report.headers = ["measure", "result", "target"]
    world = set_up()
    try:
        if "latency" in PARTS or "throughput" in PARTS:
            world.start_server()
        if "latency" in PARTS:
            _report_latency(report, measure_latency(world))
        sender = None
        if "throughput" in PARTS:
            runs = measure_throughput(world)
            sender = measure_sender(world)
            _report_throughput(report, runs, sender, measure_clients())
        world.stop_server()
        if "intake" in PARTS:
            _report_intake(report, *measure_intake(world), sender)
    finally:
        tear_down(world)
    report.notes.append(
        "Each of the example solar tenant's three customers has one HTTP destination at a "
        f"buyer's endpoint on loopback (bench/buyer.py: asyncio, in a process of its own, "
        f"answering 200 after {BUYER_DELAY * 1000:.0f} ms on keep-alive connections), so every "
        "sale is one delivery, signed and sent over HTTP; `sluice worker` at its defaults "
        "(concurrency 32, logging at INFO) in processes of its own; gunicorn with 4 sync "
        "workers; PostgreSQL (CPU counted for every database on the machine), wrk and every "
        "process on the same 2 cores."
    )
    return report


def _report_latency(report: Report, latency: Latency) -> None:
    answer, post = latency.from_answer_ms, latency.from_post_ms
    p50, p99 = statistics.median(answer), _percentile(answer, 0.99)
    report.rows += [
        [
            "commit → the buyer receives the delivery, idle worker: p50 / p99 / max",
            f"{_ms(p50)} / {_ms(p99)} / {_ms(max(answer))}",
            "p50 ≤ 200 ms, p99 ≤ 1 s",
        ],
        [
            "the same from the moment the lead was posted (an upper bound): p50 / p99",
            f"{_ms(statistics.median(post))} / {_ms(_percentile(post, 0.99))}",
            "",
        ],
    ]
    report.notes.append(
        f"Latency: {latency.leads} leads posted one at a time on a keep-alive connection, "
        f"{GAPS[0] * 1000:.0f} to {GAPS[1] * 1000:.0f} ms apart, {latency.sold} of them sold; "
        "one idle worker, woken by the NOTIFY of the sale's commit. Commit time is taken as "
        "the intake's answer (the sale commits before it answers; the buyer can receive the "
        "delivery a little before the client reads the answer, hence a few small or negative "
        "values); the receive time is the buyer's, both wall clock on this machine."
    )
    report.targets += [
        (f"commit → first attempt p50 ≤ 200 ms ({_ms(p50)})", p50 <= LATENCY_TARGETS_MS[0]),
        (f"commit → first attempt p99 ≤ 1 s ({_ms(p99)})", p99 <= LATENCY_TARGETS_MS[1]),
    ]


def _report_throughput(
    report: Report, runs: list[Run], sender: float, clients: dict[str, float]
) -> None:
    rates = [run.rate for run in runs]
    rate = statistics.median(rates)

    def per(attribute: str) -> float:
        return statistics.median(1000 * getattr(r, attribute) / r.deliveries for r in runs)

    worker, database, buyer = per("worker_cpu"), per("database_cpu"), per("buyer_cpu")
    report.rows += [
        [
            f"one worker, buyer answering in {BUYER_DELAY * 1000:.0f} ms: deliveries/s "
            f"(median of {len(runs)} runs of {runs[0].deliveries:,})",
            f"{rate:,.0f} ({', '.join(f'{r:,.0f}' for r in rates)})",
            f"≥ {RATE_TARGET}",
        ],
        [
            "CPU a delivery: worker + PostgreSQL + buyer",
            f"{worker:.2f} + {database:.2f} + {buyer:.2f} = {worker + database + buyer:.2f} ms",
            "",
        ],
        [
            "CPU of the sender alone (body, signature, httpx), one attempt, 16 threads",
            f"{sender:.2f} ms",
            "",
        ],
        [
            "CPU of one POST by the HTTP client alone, one thread, buyer answering at once",
            ", ".join(f"{name} {cost:.2f} ms" for name, cost in sorted(clients.items())),
            "",
        ],
    ]
    busy = (worker + database + buyer) * rate / 1000
    report.notes.append(
        f"Throughput: {runs[0].deliveries:,} sold leads' deliveries, pending, made due at once "
        "in one transaction while one worker waits; timed from that commit until every one is "
        f"settled delivered; each run's attempts: {', '.join(str(r.attempts) for r in runs)}, "
        f"requests the buyer received: {', '.join(str(r.received) for r in runs)}. The worker "
        f"kept {busy:.2f} of the 2 cores busy with PostgreSQL and the buyer."
    )
    report.targets.append((f"one worker ≥ {RATE_TARGET} deliveries/s ({rate:,.0f})", rate >= 300))


def _report_intake(
    report: Report,
    off: list[IntakeArm],
    on: list[IntakeArm],
    outcomes: dict[str, int],
    sender: float | None,
) -> None:
    def median(arms: list[IntakeArm], attribute: str) -> float:
        return statistics.median(getattr(arm.measure, attribute) for arm in arms)

    without, with_worker = median(off, "rps"), median(on, "rps")
    ratio = with_worker / without
    delivered = statistics.median(arm.delivered / SECONDS for arm in on)
    report.rows += [
        [
            "intake without a worker: requests/s, p99",
            f"{without:,.0f}, {_ms(median(off, 'p99_ms'))}",
            "",
        ],
        [
            "intake with a worker delivering every sale: requests/s, p99",
            f"{with_worker:,.0f}, {_ms(median(on, 'p99_ms'))}",
            "",
        ],
        ["with a worker ÷ without", f"{ratio:.0%}", f"≥ {INTAKE_TARGET:.0%}"],
        [
            "deliveries/s the worker made meanwhile; left pending at the end",
            f"{delivered:,.0f}; {', '.join(str(arm.backlog) for arm in on)}",
            "",
        ],
    ]
    cpu_off = intake.median_cpu([arm.measure for arm in off])
    cpu_on = intake.median_cpu([arm.measure for arm in on])
    worker_cpu = statistics.median(arm.worker_cpu for arm in on)
    if cpu_off is not None and cpu_on is not None:
        report.rows.append(
            [
                "CPU a request without / with: PostgreSQL + app + worker + wrk",
                f"{cpu_off.database:.2f} + {cpu_off.app:.2f} + 0 + {cpu_off.load:.2f} = "
                f"{cpu_off.total:.2f} ms / {cpu_on.database:.2f} + {cpu_on.app:.2f} + "
                f"{worker_cpu:.2f} + {cpu_on.load:.2f} = {cpu_on.total + worker_cpu:.2f} ms",
                "",
            ]
        )
    if cpu_off is not None and cpu_on is not None:
        added = cpu_on.total + worker_cpu - cpu_off.total
        allowed = cpu_off.total * (1 / INTAKE_TARGET - 1)
        floor = (
            f"; the sender alone costs {sender:.2f} ms an attempt (part 2: the body, its "
            "signature and httpx's request, from threads, with no database)"
            if sender is not None
            else ""
        )
        report.notes.append(
            f"What a worker costs the intake: {added:.2f} ms of CPU a request more, with "
            f"{worker_cpu:.2f} ms in the worker itself (the buyer's, about 0.08 ms, not "
            f"counted); on cores as busy as without a worker, 85% allows {allowed:.2f} ms"
            f"{floor}."
        )
    statuses = ", ".join(f"{status} {count:,}" for status, count in outcomes.items())
    ratios = ", ".join(f"{b.measure.rps / a.measure.rps:.0%}" for a, b in zip(off, on, strict=True))
    report.notes.append(
        f"Intake: wrk as in Benchmark 4 ({intake.CONNECTIONS} connections, {SECONDS} s a "
        f"measurement after {intake.WARM_UP_SECONDS} s of warm-up, a fresh gunicorn each), "
        f"{ROUNDS} rounds, each without then with a worker (the order swapped every other "
        f"round); medians of the rounds; with ÷ without by round: {ratios}. Without a "
        "worker the sales' deliveries are written all the same and left pending (canceled "
        "afterwards, so the next worker starts with none due). Leads by outcome: "
        f"{statuses}."
    )
    report.targets.append(
        (f"the intake with a worker ≥ 85% of without ({ratio:.0%})", ratio >= INTAKE_TARGET)
    )
