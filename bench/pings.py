"""Benchmark 7: pings against the intake, on the same bench.

Three servers, in rounds that rotate their order, on one schema made by this revision (wrk,
16 connections, the example solar rules, gunicorn with 4 sync workers, PostgreSQL, as in
Benchmark 4, bench/intake.py): `POST /api/leads` on the revision before ping-post
(SLUICE_BENCH_BASE_REV, default the merge-base with main, served from an export of it),
`POST /api/leads` on this revision (without ping_id: its speed must not change), and
`POST /api/pings` on this revision (the lead's fields without identity; each ping is
validated, classified, audited, bid on and written as its own row). Medians of the rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import replace
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
}
PING_P99_MS = 30.0
# A ping: the solar lead's fields without the person's identity.
PING_SCRIPT = """
function init(args)
  auth = args[2]
end
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


def _wrk_alone(url: str, auth: str, seconds: int, offset: int, script: Path) -> Measure:
    """Measure with one connection: each request's own latency, nothing queued before it."""
    output = subprocess.run(
        ["wrk", "-t", "1", "-c", "1", "-d", f"{seconds}s", "--latency", "-s", str(script)]
        + [url, "--", str(offset), auth],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return intake.parse_wrk(output)


def _pings(url: str) -> dict[str, int]:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM ping GROUP BY status ORDER BY status")
        found = dict(cursor.fetchall())
    connection.close()
    return found


def measure(rounds: int = ROUNDS) -> tuple[dict[str, list[Measure]], str, dict, dict]:
    """Return (measures by variant, the base revision, lead outcomes, pings by status)."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    if rounds * 5 * OFFSET_STEP > UNIQUE_PHONES:  # pings carry no phone: leads' runs only
        raise SystemExit("too many rounds: phone numbers would repeat")
    rev = intake.base_rev(BASE_REV)
    admin, schema, url = intake.new_schema()
    results: dict[str, list[Measure]] = {variant: [] for variant in (*VARIANTS, *ALONE.values())}
    base_dir = Path(tempfile.mkdtemp(prefix="sluice-base-"))
    scripts: list[str] = []
    try:
        intake.export_revision(rev, base_dir)
        auth, _ = intake._set_up(url)
        for text in (intake.WRK_SCRIPT, PING_SCRIPT):
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
        outcomes = intake._outcomes(url)
        pings = _pings(url)
    finally:
        for name in scripts:
            os.unlink(name)
        shutil.rmtree(base_dir, ignore_errors=True)
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
    return results, rev, outcomes, pings


def run() -> Report:
    """Measure pings beside the intake before and after ping-post."""
    results, rev, outcomes, pings = measure()

    def median(variant: str, attribute: str) -> float:
        return statistics.median(getattr(m, attribute) for m in results[variant])

    base = median("base", "rps")
    report = Report(
        "Benchmark 7: pings (PostgreSQL, gunicorn)",
        ["request", "requests/s", "each round", "× leads before", "p50", "p99", "CPU a request"],
    )
    for variant in (*VARIANTS, *ALONE.values()):
        cpu = intake.median_cpu(results[variant])
        report.rows.append(
            [
                LABELS[variant].format(rev=rev[:7]),
                f"{median(variant, 'rps'):,.0f}",
                ", ".join(f"{m.rps:,.0f}" for m in results[variant]),
                f"{median(variant, 'rps') / base:.0%}",
                f"{median(variant, 'p50_ms'):.1f} ms",
                f"{median(variant, 'p99_ms'):.1f} ms",
                cpu.text() if cpu else "—",
            ]
        )
    statuses = ", ".join(f"{status} {count:,}" for status, count in outcomes.items())
    pinged = ", ".join(f"{status} {count:,}" for status, count in pings.items())
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
        "CPU a request: PostgreSQL + the app + wrk, as in Benchmark 4 (— with 1 connection).",
    ]
    failed = sum(m.failed for ms in results.values() for m in ms)
    report.targets = [
        ("no failed request", failed == 0),
        ("pings at ≥ the intake's rate", median("pings", "rps") >= median("leads", "rps")),
        (
            f"ping p99 ≤ {PING_P99_MS:.0f} ms, 16 connections",
            median("pings", "p99_ms") <= PING_P99_MS,
        ),
        (
            f"ping p99 ≤ {PING_P99_MS:.0f} ms, 1 connection",
            median("pings_alone", "p99_ms") <= PING_P99_MS,
        ),
    ]
    return report
