"""Benchmark 7: pings against the intake, on the same bench.

Three servers, in rounds that rotate their order, on one schema made by this revision (wrk,
16 connections, the example solar rules, gunicorn with 4 sync workers, PostgreSQL, as in
Benchmark 4, bench/intake.py): `POST /api/leads` on the revision before ping-post
(SLUICE_BENCH_BASE_REV, default the parent of the commit that added app/api/pings.py,
served from an export of it), `POST /api/leads` on this revision (without ping_id: its
speed must not change), and `POST /api/pings` on this revision (the lead's fields without
identity; each ping is validated, classified, audited, bid on and written as its own row).
Then pings paced, by the same 16 connections, at the intake's rate and at half the pings'
own (PACED_SCRIPT): their latency below the bench's saturation. Medians of the rounds.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import intake
from bench.intake import OFFSET_STEP, ROOT, UNIQUE_PHONES, WARM_UP_SECONDS, Measure, Server
from bench.report import Report

ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "3"))
BASE_REV = os.environ.get("SLUICE_BENCH_BASE_REV")
VARIANTS = ("base", "leads", "pings")
#: Also measured on the same server, with one connection: a request's own time, no queue.
ALONE = {"leads": "leads_alone", "pings": "pings_alone"}
LABELS = {
    "base": "POST /api/leads, before ping-post ({rev})",
    "leads": "POST /api/leads, this revision (no ping_id)",
    "pings": "POST /api/pings, this revision",
    "leads_alone": "POST /api/leads, this revision, 1 connection",
    "pings_alone": "POST /api/pings, this revision, 1 connection",
    "pings_paced": "POST /api/pings, paced at the intake's rate ({offered:,.0f}/s offered)",
    "pings_half": "POST /api/pings, paced at half its own rate ({offered:,.0f}/s offered)",
}
PING_P99_MS = 30.0
#: Paced runs: the rates offered, as a share of the median rate of a variant of the run.
PACED = {"pings_paced": ("leads", 1.0), "pings_half": ("pings", 0.5)}
#: A paced request sent more than this after its slot counts as late (wrk's timers are in ms).
LATE_MS = 1.0
# A ping: the solar lead's fields without the person's identity.
PING_REQUEST = """
function request()
  local body = '{"state": "FL", "zip": "33139", "homeowner": true, "monthly_bill": 180, '
    .. '"roof_type": "tile", "credit_score": 700}'
  local headers = {["Content-Type"] = "application/json"}
  if string.sub(auth, 1, 6) == "Basic " then
    headers["Authorization"] = auth
  else
    headers["X-Api-Key"] = auth
  end
  return wrk.format("POST", nil, headers, body)
end
"""
PING_SCRIPT = (
    """
function init(args)
  auth = args[2]
end
"""
    + PING_REQUEST
)
# The ping, paced (arguments: offset, auth, rate, threads). Each thread sends on a schedule of
# its own, evenly spaced, the threads' slots interleaved, so that all the connections together
# offer `rate` requests/s. wrk calls `delay()` when a connection is free for its next request
# and measures the request from its send; the connection takes the thread's next slot. A slot
# already past (every connection of the thread was busy) is sent at once: that lag is the
# wait wrk does not measure (coordinated omission), counted here and printed by `done()`.
PACED_SCRIPT = (
    """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } sluice_timespec;
int clock_gettime(int clock, sluice_timespec *t);
]]
local clock = ffi.new("sluice_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  auth = args[2]
  local rate, count = tonumber(args[3]), tonumber(args[4])
  interval = 1000 * count / rate
  slot = now_ms() + interval * tid / count
  sends, late, lag_max = 0, 0, 0
end
function delay()
  local lag = now_ms() - slot
  slot = slot + interval
  sends = sends + 1
  if lag > LATE_MS then
    late = late + 1
  end
  lag_max = math.max(lag_max, lag)
  return math.max(0, math.floor(-lag))
end
function done(summary, latency, requests)
  local sent, behind, worst = 0, 0, 0
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("sends")
    behind = behind + thread:get("late")
    worst = math.max(worst, thread:get("lag_max"))
  end
  io.write(string.format("paced: %d sends, %d late, longest lag %.1f ms\\n", sent, behind, worst))
end
""".replace("LATE_MS", str(LATE_MS))
    + PING_REQUEST
)


@dataclass
class Pacing:
    """A paced run's schedule: the rate offered, and the sends that fell behind it."""

    offered: float  # requests/s
    sends: int
    late: int  # sent more than LATE_MS after their slot
    lag_max_ms: float


def _wrk(
    url: str, auth: str, seconds: int, offset: int, script: Path, connections: int, *extra: str
) -> str:
    """Return the output of a wrk run (two threads, or one for one connection)."""
    threads = min(connections, intake.THREADS)
    return subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
        + ["-s", str(script), url, "--", str(offset), auth, *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout


def _wrk_alone(url: str, auth: str, seconds: int, offset: int, script: Path) -> Measure:
    """Measure with one connection: each request's own latency, nothing queued before it."""
    return intake.parse_wrk(_wrk(url, auth, seconds, offset, script, 1))


def _wrk_paced(
    url: str, auth: str, seconds: int, rate: float, script: Path
) -> tuple[Measure, Pacing]:
    """Measure pings offered at `rate` a second by the 16 connections (PACED_SCRIPT)."""
    connections = intake.CONNECTIONS
    threads = min(connections, intake.THREADS)
    output = _wrk(url, auth, seconds, 0, script, connections, f"{rate:.3f}", str(threads))
    found = re.search(r"paced: (\d+) sends, (\d+) late, longest lag ([\d.-]+) ms", output)
    if found is None:
        raise RuntimeError(f"wrk printed no pacing:\n{output}")
    sends, late, lag = found.groups()
    return intake.parse_wrk(output), Pacing(rate, int(sends), int(late), float(lag))


def _before_ping_post() -> str:
    """Return the revision before the commit that added `POST /api/pings` (its parent)."""
    parents = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%P", "--"]
        + ["app/api/pings.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not parents:
        raise SystemExit("no commit added app/api/pings.py: set SLUICE_BENCH_BASE_REV")
    return parents[-1]


def _pings(url: str) -> dict[str, int]:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM ping GROUP BY status ORDER BY status")
        found = dict(cursor.fetchall())
    connection.close()
    return found


@dataclass
class Run:
    """What a run of the benchmark found."""

    rev: str  # the revision before ping-post
    measures: dict[str, list[Measure]]  # by variant
    outcomes: dict[str, int]  # leads by status
    pings: dict[str, int]  # pings by status
    pacing: dict[str, list[Pacing]] = field(default_factory=dict)  # paced variants'

    def median(self, variant: str, attribute: str = "rps") -> float:
        """Return the median over the rounds of a variant's figure (requests/s by default)."""
        return statistics.median(getattr(m, attribute) for m in self.measures[variant])


def measure(rounds: int = ROUNDS) -> Run:
    """Measure the three variants in rotating rounds, then pings paced at the rates found."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    if rounds * 5 * OFFSET_STEP > UNIQUE_PHONES:  # pings carry no phone: leads' runs only
        raise SystemExit("too many rounds: phone numbers would repeat")
    rev = BASE_REV or _before_ping_post()
    admin, schema, url = intake.new_schema()
    variants = (*VARIANTS, *ALONE.values(), *PACED)
    found = Run(rev, {variant: [] for variant in variants}, {}, {})
    results = found.measures
    base_dir = Path(tempfile.mkdtemp(prefix="sluice-base-"))
    scripts: list[str] = []
    try:
        intake.export_revision(rev, base_dir)
        auth, _ = intake._set_up(url)
        for text in (intake.WRK_SCRIPT, PING_SCRIPT, PACED_SCRIPT):
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
                script.write(text)
                scripts.append(script.name)
        env = {"SLUICE_DATABASE_URL": url, "SLUICE_LOG_LEVEL": "INFO"}
        offset = 0
        for number in range(rounds):
            order = VARIANTS[number % 3 :] + VARIANTS[: number % 3]
            for variant in order:
                cwd = base_dir if variant == "base" else ROOT
                path = Path(scripts[1] if variant == "pings" else scripts[0])
                step = 0 if variant == "pings" else OFFSET_STEP
                server = Server(["-c", "gunicorn.conf.py", "wsgi:app"], env, cwd)
                try:
                    target = server.url + ("/api/pings" if variant == "pings" else "/api/leads")
                    intake.wrk(target, auth, WARM_UP_SECONDS, offset, path)
                    offset += step
                    before = intake.cpu_now(server)
                    result = intake.wrk(target, auth, intake.SECONDS, offset, path)
                    after = intake.cpu_now(server)
                    if before is not None and after is not None:
                        result = replace(result, cpu=(after - before).per(result.requests))
                    results[variant].append(result)
                    offset += step
                    if variant in ALONE:
                        alone = _wrk_alone(target, auth, intake.SECONDS, offset, path)
                        results[ALONE[variant]].append(alone)
                        offset += step
                finally:
                    server.stop()
                print(f"  {variant}: {result}", flush=True)
        # Paced: the rates are the medians of the rounds above, so these runs come after.
        rates = {variant: found.median(of) * share for variant, (of, share) in PACED.items()}
        paced = tuple(PACED)
        for number in range(rounds):
            for variant in paced[number % 2 :] + paced[: number % 2]:
                server = Server(["-c", "gunicorn.conf.py", "wsgi:app"], env, ROOT)
                try:
                    target, path = server.url + "/api/pings", Path(scripts[2])
                    _wrk_paced(target, auth, WARM_UP_SECONDS, rates[variant], path)
                    before = intake.cpu_now(server)
                    result, pacing = _wrk_paced(target, auth, intake.SECONDS, rates[variant], path)
                    after = intake.cpu_now(server)
                    if before is not None and after is not None:
                        result = replace(result, cpu=(after - before).per(result.requests))
                    results[variant].append(result)
                    found.pacing.setdefault(variant, []).append(pacing)
                finally:
                    server.stop()
                print(f"  {variant}: {result}, {pacing}", flush=True)
        found.outcomes = intake._outcomes(url)
        found.pings = _pings(url)
    finally:
        for name in scripts:
            os.unlink(name)
        shutil.rmtree(base_dir, ignore_errors=True)
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
    return found


def _lateness(pacings: list[Pacing]) -> str:
    """Return how many sends of the rounds fell behind their slots, and by how much at most."""
    sends, late = sum(p.sends for p in pacings), sum(p.late for p in pacings)
    longest = max(p.lag_max_ms for p in pacings)
    share = late / max(sends, 1)
    return f"{late:,} of {sends:,} sends late ({share:.1%}), the longest by {longest:.1f} ms"


def _on_schedule(found: Run, variant: str) -> bool:
    """Return whether a paced variant ran at the rate offered: at least 98% of it achieved,
    at most 1% of the sends late (else wrk's latencies would leave out a real wait)."""
    pacings = found.pacing[variant]
    late = sum(p.late for p in pacings) / max(sum(p.sends for p in pacings), 1)
    return found.median(variant) >= 0.98 * pacings[0].offered and late <= 0.01


def run() -> Report:
    """Measure pings beside the intake before and after ping-post, then paced."""
    found = measure()
    median = found.median
    base = median("base")
    offered = {variant: found.pacing[variant][0].offered for variant in PACED}
    report = Report(
        "Benchmark 7: pings (PostgreSQL, gunicorn)",
        ["request", "requests/s", "each round", "× leads before", "p50", "p99", "CPU a request"],
    )
    for variant in (*VARIANTS, *ALONE.values(), *PACED):
        cpu = intake.median_cpu(found.measures[variant])
        report.rows.append(
            [
                LABELS[variant].format(rev=found.rev[:7], offered=offered.get(variant, 0)),
                f"{median(variant):,.0f}",
                ", ".join(f"{m.rps:,.0f}" for m in found.measures[variant]),
                f"{median(variant) / base:.0%}",
                f"{median(variant, 'p50_ms'):.1f} ms",
                f"{median(variant, 'p99_ms'):.1f} ms",
                cpu.text() if cpu else "—",
            ]
        )
    statuses = ", ".join(f"{status} {count:,}" for status, count in found.outcomes.items())
    pinged = ", ".join(f"{status} {count:,}" for status, count in found.pings.items())
    busy = {}
    for variant in ("pings", *PACED):
        cpu = intake.median_cpu(found.measures[variant])
        busy[variant] = f"{cpu.total * median(variant) / 1000:.2f}" if cpu else "?"
    report.notes += [
        f"wrk as in Benchmark 4 ({intake.CONNECTIONS} connections, {intake.SECONDS} s a "
        f"measurement after {WARM_UP_SECONDS} s of warm-up, a fresh gunicorn each); "
        f"{ROUNDS} rounds, the three in a rotating order; medians of the rounds.",
        "A ping: the solar lead's fields without identity (state, zip, homeowner, "
        "monthly_bill, roof_type, credit_score), validated, classified, audited, bid on "
        "with the live figures (one read) and written as its own row (one INSERT). "
        f"Pings by answer: {pinged}; leads by outcome: {statuses}.",
        "1 connection: measured right after the 16 connections, on the same server, for "
        f"{intake.SECONDS} s; its p99 is a request's own time, without the wait for a free "
        "worker that 16 connections on 4 workers and 2 shared CPUs add.",
        "Unpaced, each connection sends its next request as soon as the last is answered: "
        "the rate is the bench's most, with 2 CPUs shared by wrk, PostgreSQL and gunicorn "
        f"fully used ({busy['pings']} CPU-s/s for the pings), and the p99 is mostly the "
        "wait for a worker and a CPU.",
        f"Paced: after the rounds, on a fresh gunicorn each, {ROUNDS} rounds of each in a "
        "rotating order, the same 16 connections offer pings at a fixed rate: the median "
        "rate of `POST /api/leads` (this revision) above, and half the unpaced pings' median. "
        "wrk's Lua `delay()` spaces each thread's sends evenly on a schedule (the two "
        "threads' slots interleaved; no bursts, so a rate as even as this is kinder than "
        "random arrivals; wrk's timers count whole milliseconds, so a send may go up to 1 ms "
        "early); a connection free for its next request waits for the next slot. "
        f"Busy CPUs: {busy['pings_paced']} (at the intake's rate) and "
        f"{busy['pings_half']} (half rate) of 2.",
        "Coordinated omission: wrk measures each request from its send, not from its slot. "
        "A slot that comes while every connection of its thread is busy is sent late, when "
        "one is free, and that wait is in no latency above; so the late sends are counted "
        f"(more than {LATE_MS:.0f} ms after their slot). At the intake's rate: "
        f"{_lateness(found.pacing['pings_paced'])}; at half rate: "
        f"{_lateness(found.pacing['pings_half'])}. A paced target is met only with at least "
        "98% of the offered rate achieved and at most 1% of the sends late.",
        "CPU a request: PostgreSQL + the app + wrk, as in Benchmark 4 (— with 1 connection).",
    ]
    failed = sum(m.failed for ms in found.measures.values() for m in ms)
    paced_p99 = median("pings_paced", "p99_ms")
    report.targets = [
        ("no failed request", failed == 0),
        ("pings at ≥ the intake's rate", median("pings") >= median("leads")),
        (
            f"ping p99 ≤ {PING_P99_MS:.0f} ms, 16 connections",
            median("pings", "p99_ms") <= PING_P99_MS,
        ),
        (
            f"ping p99 ≤ {PING_P99_MS:.0f} ms, 1 connection",
            median("pings_alone", "p99_ms") <= PING_P99_MS,
        ),
        (
            f"ping p99 ≤ {PING_P99_MS:.0f} ms at the intake's rate (16 connections, paced), "
            f"{offered['pings_paced']:,.0f}/s offered, {median('pings_paced'):,.0f}/s "
            f"achieved: p99 {paced_p99:.1f} ms",
            paced_p99 <= PING_P99_MS and _on_schedule(found, "pings_paced"),
        ),
    ]
    return report
