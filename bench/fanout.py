"""Benchmark 8: a ping_post stage's fan-out to ten partners, end to end.

Ten partners on loopback, one port each, served by one asyncio loop in a thread of this
process (a ping is answered with an offer of 50.00–99.99 after a random 50–250 ms, a post
is accepted at once; a hanging partner answers nothing and holds the connection until the
caller closes it, 60 s at most). Three tenants on the example solar rules, in one schema
made by this revision, served by gunicorn (4 sync workers, PostgreSQL, as in Benchmark 4,
bench/intake.py): `baseline` keeps the example plan; `fanout` puts
`stage ping_post [p0, ..., p9] timeout 300 ms` before its `stage bidding highest_price`;
`hanging` does the same with partners that never answer. Each round runs the three in a
rotating order, each on a fresh gunicorn: 3 s of warm-up, then wrk with 16 connections
(throughput, requests queued for a worker) and with 4, one a worker (a request's own
latency); medians of the rounds. The stage's own time is the `pinged_ms` of the first
`ping_post` timeline step of every lead of the run (warm-up included).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench import intake
from bench.intake import OFFSET_STEP, ROOT, UNIQUE_PHONES, WARM_UP_SECONDS, WORKERS, Measure
from bench.intake import Server as Gunicorn
from bench.report import Report

ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "3"))
VARIANTS = ("baseline", "fanout", "hanging")
LABELS = {
    "baseline": "no ping_post stage (the example plan)",
    "fanout": "ping_post, 10 partners answering in 50–250 ms",
    "hanging": "ping_post, 10 partners hanging",
}
PARTNERS = 10
TIMEOUT_MS = 300
SLACK_MS = 30
DELAY_S = (0.050, 0.250)
HANG_S = 60.0
BUSY, ALONE = 16, WORKERS  # wrk connections: the workers kept busy; one a worker
#: How the partners' answers are read (the way tests/partner_servers.py answers).
READ = {
    "accepted_path": "status == 'accepted' || status == 'sold'",
    "price_path": "bid.price",
    "reference_path": "ping_id",
    "reason_path": "message",
    "redirect_path": "redirect",
}
POSTED = b'{"status": "sold", "redirect": "https://partner.example/thanks"}'


class Partners:
    """Partners' HTTP APIs on loopback ports, served by one asyncio loop in its own thread:
    `/ping` offers after a random delay, `/post` accepts, `/hang` holds until the caller
    closes."""

    def __init__(self, count: int) -> None:
        self.lateness_ms: list[float] = []  # how long after its delay each offer was sent
        self.held_ms: list[float] = []  # how long each hanging ping waited for its caller
        self.hanging = 0  # hanging pings still open
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = [self._call(self._listen()) for _ in range(count)]
        self.urls = [f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}" for s in self.servers]

    def stop(self) -> None:
        self._call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=4096)

    async def _close(self) -> None:
        for server in self.servers:
            server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():  # HTTP/1.1: requests until the caller closes
                length = 0
                while (header := await reader.readline()).strip():
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                path = line.split()[1]
                if path == b"/hang":
                    await self._hang(reader)
                    break
                body = POSTED if path == b"/post" else await self._offer()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the caller gave up at its deadline
        finally:
            writer.close()

    async def _offer(self) -> bytes:
        delay = random.uniform(*DELAY_S)
        started = time.monotonic()
        await asyncio.sleep(delay)
        self.lateness_ms.append((time.monotonic() - started - delay) * 1000)
        price = random.randint(5000, 9999) / 100  # above every own bid: the offer wins
        return b'{"status": "accepted", "bid": {"price": %.2f}, "ping_id": "pg_%d"}' % (
            price,
            random.getrandbits(32),
        )

    async def _hang(self, reader: asyncio.StreamReader) -> None:
        started = time.monotonic()
        self.hanging += 1
        try:
            await asyncio.wait_for(reader.read(1), HANG_S)  # b"": the caller closed
        except TimeoutError:
            pass
        finally:
            self.hanging -= 1
            self.held_ms.append((time.monotonic() - started) * 1000)


def _rules(with_stage: bool) -> dict[str, str]:
    """Return the example solar rules, with the ping_post stage first in the plan or not."""
    from app.dsl import read_rule_files

    files = read_rule_files(str(ROOT / "examples" / "solar"))
    if not with_stage:
        return files
    names = ", ".join(f"p{number}" for number in range(PARTNERS))
    stage = f"plan solar {{\n    stage ping_post [{names}] timeout {TIMEOUT_MS} ms\n"
    changed = {name: text.replace("plan solar {\n", stage) for name, text in files.items()}
    assert changed != files, "the example rules have no `plan solar {`"
    return changed


def _set_up(url: str, secret_key: str, partner_urls: list[str]) -> dict[str, tuple[str, int]]:
    """Create Sluice's tables and a tenant for each variant (its partners first, then its
    rules); return {variant: (the source's Authorization header, the tenant's id)}."""
    import base64

    from app import create_app
    from app.services.actor import operator_actor
    from app.services.partners import add_partner
    from app.store.customers import create_customer
    from app.store.db import database
    from app.store.migrations import upgrade
    from app.store.models import Source
    from app.store.rules import push_rules
    from app.store.sources import create_source
    from app.store.tenants import create_tenant

    made = {}
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secret_key})
    with app.app_context():
        upgrade()
        for variant in VARIANTS:
            tenant, _, _ = create_tenant(f"Bench {variant}")
            for slug in ("sunco", "brightside", "bargain"):
                create_customer(tenant, slug, slug.title(), 500_000_000)  # 5,000,000.00
            ping = {"fanout": "/ping", "hanging": "/hang"}.get(variant)
            for number, partner_url in enumerate(partner_urls if ping else []):
                settings = {"name": f"p{number}", "ping_url": partner_url + ping, **READ}
                settings["post_url"] = partner_url + "/post"
                add_partner(operator_actor(tenant.code), settings)
            push_rules(tenant, _rules(ping is not None), by="bench")
            source, secret = create_source(tenant, "Bench", "solar")
            Source.update(rate_limit=intake.RATE_LIMIT).where(Source.id == source.id).execute()
            token = base64.b64encode(f"{source.api_key}:{secret}".encode()).decode()
            made[variant] = (f"Basic {token}", tenant.id)
        database.close()
    return made


def _wrk(url: str, auth: str, seconds: int, offset: int, script: Path, connections: int):
    """Run wrk (2 threads) with a 10 s socket timeout: queued requests wait ~1 s here."""
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s"]
        + ["--latency", "-s", str(script), url, "--", str(offset), auth],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return intake.parse_wrk(output)


def _drain(url: str) -> None:
    """Wait until gunicorn has served the requests wrk left queued when it stopped (their
    connections closed, but a sync worker still serves each): the next run starts on idle
    workers."""
    urllib.request.urlopen(url + "/healthz", timeout=60).close()  # queued behind them
    time.sleep(0.5)  # the other workers finish theirs (a request takes ≤ 0.35 s)


def _query(url: str, sql: str, tenant_id: int) -> list[tuple]:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection.cursor() as cursor:
        cursor.execute(sql, (tenant_id,))
        rows = cursor.fetchall()
    connection.close()
    return rows


def _stage_ms(url: str, tenant_id: int) -> list[tuple[float, float, int]]:
    """Return (pinged_ms, its longest ping's duration_ms, its offers) of each lead's first
    ping_post step (a later one, after a post, repeats pinged_ms)."""
    sql = (
        "SELECT DISTINCT ON (e.lead_id) (e.details::jsonb ->> 'pinged_ms')::float,"
        " max((c.details::jsonb ->> 'duration_ms')::float),"
        " count(*) FILTER (WHERE c.details::jsonb ->> 'status' = 'accepted')"
        " FROM lead_event e JOIN lead l ON l.id = e.lead_id"
        " JOIN lead_event c ON c.lead_id = e.lead_id AND c.kind = 'partner_call'"
        "  AND c.details::jsonb ->> 'phase' = 'ping'"
        " WHERE l.tenant_id = %s AND e.kind = 'ping_post'"
        " GROUP BY e.lead_id, e.id ORDER BY e.lead_id, e.id"
    )
    return [row for row in _query(url, sql, tenant_id) if row[0] is not None]


def _counts(url: str, tenant_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """Return (the tenant's leads by status, its partner calls by phase and status)."""
    leads = "SELECT status, count(*) FROM lead WHERE tenant_id = %s GROUP BY 1 ORDER BY 2 DESC"
    calls = (
        "SELECT concat(e.details::jsonb ->> 'phase', ' ', e.details::jsonb ->> 'status'),"
        " count(*) FROM lead_event e JOIN lead l ON l.id = e.lead_id"
        " WHERE l.tenant_id = %s AND e.kind = 'partner_call' GROUP BY 1 ORDER BY 1"
    )
    return dict(_query(url, leads, tenant_id)), dict(_query(url, calls, tenant_id))


def measure(rounds: int = ROUNDS) -> dict:
    """Run the rounds; return the measures by variant and what the database and the
    partners saw."""
    from app.store import crypto

    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    if rounds * 3 * OFFSET_STEP > UNIQUE_PHONES:  # 3 wrk runs a round on each tenant
        raise SystemExit("too many rounds: phone numbers would repeat")
    admin, schema, url = intake.new_schema()
    partners = Partners(PARTNERS)
    busy: dict[str, list[Measure]] = {variant: [] for variant in VARIANTS}
    alone: dict[str, list[Measure]] = {variant: [] for variant in VARIANTS}
    secret_key = crypto.new_key()
    try:
        tenants = _set_up(url, secret_key, partners.urls)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(intake.WRK_SCRIPT)
        env = {
            "SLUICE_DATABASE_URL": url,
            "SLUICE_LOG_LEVEL": "INFO",
            "SLUICE_SECRET_KEY": secret_key,
        }
        offsets = dict.fromkeys(VARIANTS, 0)
        for number in range(rounds):
            for variant in VARIANTS[number % 3 :] + VARIANTS[: number % 3]:
                auth, _ = tenants[variant]
                server = Gunicorn(["-c", "gunicorn.conf.py", "wsgi:app"], env)
                try:
                    target = server.url + "/api/leads"
                    for seconds, connections, results in (
                        (WARM_UP_SECONDS, BUSY, None),
                        (intake.SECONDS, BUSY, busy[variant]),
                        (intake.SECONDS, ALONE, alone[variant]),
                    ):
                        path = Path(script.name)
                        found = _wrk(target, auth, seconds, offsets[variant], path, connections)
                        offsets[variant] += OFFSET_STEP
                        if results is not alone[variant]:  # the last run: the server stops
                            _drain(server.url)
                        if results is not None:
                            results.append(found)
                finally:
                    server.stop()
                print(f"  {variant}: {busy[variant][-1]} | {alone[variant][-1]}", flush=True)
        os.unlink(script.name)
        per_lead = {v: _stage_ms(url, tenants[v][1]) for v in VARIANTS if v != "baseline"}
        counts = {v: _counts(url, tenants[v][1]) for v in VARIANTS}
    finally:
        partners.stop()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
    return {
        "busy": busy,
        "alone": alone,
        "stage": {v: [row[0] for row in found] for v, found in per_lead.items()},
        "per_lead": per_lead,
        "counts": counts,
        "lateness": partners.lateness_ms,
        "held": partners.held_ms,
        "still_open": partners.hanging,
    }


def percentile(values: list[float], share: int) -> float:
    """Return the value below which `share` percent of the values lie."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


def _by_count(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


def run() -> Report:
    """Measure the ping fan-out beside the same rules without it, and with hanging partners."""
    found = measure()
    busy, alone, stage = found["busy"], found["alone"], found["stage"]

    def median(measures: list[Measure], attribute: str) -> float:
        return statistics.median(getattr(m, attribute) for m in measures)

    base = median(busy["baseline"], "rps")
    ceiling = WORKERS / (TIMEOUT_MS / 1000)
    report = Report(
        "Benchmark 8: ping fan-out to partners (PostgreSQL, gunicorn)",
        [
            "plan",
            "requests/s",
            "each round",
            "× baseline",
            f"× W / {TIMEOUT_MS / 1000:g} s",
            "p50",
            "p99",
            "p50, 1 a worker",
            "p99, 1 a worker",
            "stage p50",
            "stage p99",
        ],
    )
    for variant in VARIANTS:
        rps = median(busy[variant], "rps")
        ms = stage.get(variant)
        report.rows.append(
            [
                LABELS[variant],
                f"{rps:,.1f}",
                ", ".join(f"{m.rps:,.1f}" for m in busy[variant]),
                f"{rps / base:.1%}",
                "—" if variant == "baseline" else f"{rps / ceiling:.0%}",
                f"{median(busy[variant], 'p50_ms'):.1f} ms",
                f"{median(busy[variant], 'p99_ms'):.1f} ms",
                f"{median(alone[variant], 'p50_ms'):.1f} ms",
                f"{median(alone[variant], 'p99_ms'):.1f} ms",
                f"{percentile(ms, 50):.1f} ms" if ms else "—",
                f"{percentile(ms, 99):.1f} ms" if ms else "—",
            ]
        )
    own_p50 = median(alone["baseline"], "p50_ms")
    own_p99 = median(alone["baseline"], "p99_ms")
    hang_p99 = median(alone["hanging"], "p99_ms")
    hang_rps = median(busy["hanging"], "rps")
    allowed = WORKERS / ((TIMEOUT_MS + SLACK_MS + own_p50) / 1000)
    expected = WORKERS / (median(alone["fanout"], "p50_ms") / 1000)
    held, lateness = found["held"], found["lateness"]
    per_lead = found["per_lead"]
    outside = {v: [ms - longest for ms, longest, _ in rows] for v, rows in per_lead.items()}
    unoffered = sum(1 for _, _, offers in per_lead["fanout"] if offers == 0)
    leads = {v: _by_count(found["counts"][v][0]) for v in VARIANTS}
    calls = {v: _by_count(found["counts"][v][1]) for v in VARIANTS if v != "baseline"}

    def spread(values: list[float]) -> str:
        return f"p50 {percentile(values, 50):.1f}, p99 {percentile(values, 99):.1f} ms"

    report.notes += [
        f"wrk (2 threads, 10 s socket timeout): {intake.SECONDS} s with {BUSY} connections "
        f"(requests queue for the {WORKERS} sync workers: requests/s, p50, p99), then "
        f"{intake.SECONDS} s with {ALONE}, one a worker (a request's own latency), after "
        f"{WARM_UP_SECONDS} s of warm-up, a fresh gunicorn each, the requests wrk left queued "
        f"served before the next run; {ROUNDS} rounds, the three plans in a rotating order; "
        "medians of the rounds. Every request a new solar lead (Benchmark 4's script).",
        f"Stage: `stage ping_post [p0, ..., p9] timeout {TIMEOUT_MS} ms` before the example "
        "plan (bidding, marketplace). Stage p50/p99: `pinged_ms` of each lead's ping_post "
        "step, the wall time of the fan-out (the partners looked up, all pinged at once, "
        f"until the last answer or the deadline), over every lead of the run: "
        f"{len(stage['fanout']):,} answering, {len(stage['hanging']):,} hanging. Spent outside "
        "the longest call (lookup, client, cancelling, gathering): answering "
        f"{spread(outside['fanout'])}; hanging {spread(outside['hanging'])}.",
        "Partners: one asyncio loop in the bench process, 10 loopback ports. An offer of "
        "50.00–99.99 (above every own bid: it wins and is posted, accepted at once) after a "
        f"uniform 50–250 ms: {len(lateness):,} sent, late by p99 "
        f"{percentile(lateness, 99):.1f} ms. Calls by phase and status: answering "
        f"{calls['fanout']}; hanging {calls['hanging']}.",
        f"Answering: a lead holds its worker {median(alone['fanout'], 'p50_ms'):.0f} ms at "
        f"p50 (1 a worker), so W / that = {expected:.1f} requests/s is what {WORKERS} workers "
        "can serve; the ratio to the baseline is that of a 10-partner fan-out to a lead "
        "routed in the worker's own CPU time.",
        "Hanging: each ping held by its partner until the caller closes the connection, "
        f"{len(held):,} held {spread(held)}, longest {max(held, default=0):.0f} ms, "
        f"{found['still_open']} still open at the end. Throughput {hang_rps:.1f} requests/s "
        f"against W / {TIMEOUT_MS / 1000:g} s = {ceiling:.1f} (W = {WORKERS} sync workers), "
        f"{allowed:.1f} with the {SLACK_MS} ms slack and a baseline lead's own "
        f"{own_p50:.1f} ms (its p50, 1 a worker).",
        f"Leads by outcome: baseline {leads['baseline']}; answering {leads['fanout']} "
        f"({unoffered:,} without an offer by the deadline: Sluice's own bid took them); "
        f"hanging {leads['hanging']}.",
    ]
    failed = sum(m.failed for ms in (*busy.values(), *alone.values()) for m in ms)
    limit = TIMEOUT_MS + SLACK_MS
    fanout_p99, hanging_p99 = percentile(stage["fanout"], 99), percentile(stage["hanging"], 99)
    report.targets = [
        ("no failed request", failed == 0),
        (
            f"stage p99 ≤ {limit} ms, partners answering in 50–250 ms ({fanout_p99:.1f} ms)",
            fanout_p99 <= limit,
        ),
        (f"stage p99 ≤ {limit} ms, partners hanging ({hanging_p99:.1f} ms)", hanging_p99 <= limit),
        (
            f"hanging: a request's p99, 1 a worker, ≤ {limit} ms + a baseline lead's own p99 "
            f"({hang_p99:.1f} ≤ {limit + own_p99:.1f} ms)",
            hang_p99 <= limit + own_p99,
        ),
        (
            f"hanging: ≥ W / ({limit} ms + a baseline lead's own p50) requests/s, {BUSY} "
            f"connections ({hang_rps:.1f} ≥ {allowed:.1f})",
            hang_rps >= allowed,
        ),
        (
            f"hanging: the partner's connection closed by {limit} ms at p99 "
            f"({percentile(held, 99):.0f} ms)",
            percentile(held, 99) <= limit,
        ),
    ]
    return report
