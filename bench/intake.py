"""Benchmark 4: end-to-end POST /api/leads under gunicorn on PostgreSQL, beside the floor.

Sluice (gunicorn.conf.py: 4 sync workers, JSON request logs at INFO as in production) takes
the example solar lead, each request with a phone and email of its own, so every one is
validated, recorded, deduplicated against history, bid on and charged. The floor
(bench/floor_app.py) parses the JSON, checks a key and does one INSERT. Both run on this
machine's PostgreSQL, in a schema of their own that is dropped afterwards, loaded by wrk
(16 connections, 2 threads) in alternating rounds; the medians are reported, with the CPU
each request cost PostgreSQL, the app and wrk (from /proc, on Linux) and the ceiling that
sets: Sluice's database work served by an app as cheap as the floor's.

The bench source's rate limit is set to 10^9 a minute so the limiter counts but never
throttles; its counters are in process memory, or in Redis with SLUICE_BENCH_REDIS_URL
(e.g. redis://127.0.0.1:6379/14; keys under a prefix of the run's own).

Environment: SLUICE_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
SLUICE_BENCH_SECONDS (per measurement, default 10), SLUICE_BENCH_ROUNDS (default 2),
SLUICE_BENCH_SLUICE_DIR (serve Sluice from another checkout, e.g. an earlier revision
unpacked with `git archive REV | tar -x -C DIR`, to measure what a change gained).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.report import Report

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get(
    "SLUICE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SLUICE_BENCH_REDIS_URL")
SECONDS = int(os.environ.get("SLUICE_BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "2"))
SLUICE_DIR = Path(os.environ.get("SLUICE_BENCH_SLUICE_DIR", ROOT))
CONNECTIONS, THREADS = 16, 2
WORKERS = int(os.environ.get("SLUICE_BENCH_WORKERS", "4"))
WARM_UP_SECONDS = 3
FLOOR_KEY = "floor-key"
FLOOR_ARGUMENTS = ["-c", "bench/floor_gunicorn.conf.py", "bench.floor_app:app"]
RATE_LIMIT = 10**9
OFFSET_STEP = 250_000  # lead numbers a wrk run may use (2 threads x 100,000 requests at most)
UNIQUE_PHONES = 8_000_000

# Each request its own lead: n = offset + thread * 100,000 + counter, its phone number
# 555-XXX-XXXX unique for n below 8,000,000 (the example rules dedupe on phone and email).
WRK_SCRIPT = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  offset = tonumber(args[1])
  auth = args[2]
  counter = 0
end
function request()
  counter = counter + 1
  local n = offset + tid * 100000 + counter
  local phone = string.format("555-%03d-%04d", 200 + math.floor(n / 10000) % 800, n % 10000)
  local body = string.format('{"first_name": "Katy", "last_name": "Berry", '
    .. '"email": "lead%d@example.com", "phone": "%s", "address_1": "742 Orchard Lane", '
    .. '"city": "Paradise Bay", "state": "FL", "zip": "33139", "homeowner": true, '
    .. '"monthly_bill": 180, "roof_type": "tile", "credit_score": 700}', n, phone)
  local headers = {["Content-Type"] = "application/json"}
  if string.sub(auth, 1, 6) == "Basic " then
    headers["Authorization"] = auth
  else
    headers["X-Api-Key"] = auth
  end
  return wrk.format("POST", nil, headers, body)
end
"""


@dataclass
class Cpu:
    """CPU time by who spent it: the PostgreSQL server, the app's gunicorn, the load generator."""

    database: float
    app: float
    load: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.database - other.database, self.app - other.app, self.load - other.load)

    def per(self, requests: int) -> Cpu:
        """Return this CPU time in milliseconds a request."""
        return Cpu(*(1000 * value / max(requests, 1) for value in vars(self).values()))

    @property
    def total(self) -> float:
        return self.database + self.app + self.load

    def text(self) -> str:
        """Return 'PostgreSQL + app + load = total ms', for a report cell."""
        return f"{self.database:.2f} + {self.app:.2f} + {self.load:.2f} = {self.total:.2f} ms"


@dataclass
class Measure:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failed: int  # non-2xx answers and socket errors
    cpu: Cpu | None = None  # ms a request, where /proc tells


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> Measure:
    """Return the figures of wrk's --latency output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    return Measure(rps, p50, p99, requests, failed)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn on a loopback port, its output discarded."""

    def __init__(self, arguments: list[str], env: dict[str, str], cwd: Path = ROOT):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                *arguments,
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
            ],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # answering (the floor has no /healthz: 404)
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn {' '.join(arguments)} exited") from None
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        time.sleep(1)  # every worker booted

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def _proc_stats() -> list[tuple[int, str, int, float]]:
    """Return (pid, command, parent pid, CPU seconds of itself and its reaped children) of
    every process."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended
            continue
        command = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seconds = sum(int(n) for n in fields[11:15]) / tick  # utime, stime, cutime, cstime
        stats.append((int(stat.parent.name), command, int(fields[1]), seconds))
    return stats


def cpu_now(server: Server) -> Cpu | None:
    """Return the CPU seconds spent so far by PostgreSQL's processes, the server's gunicorn
    (its master, its workers and the workers it reaped) and this process's waited-for
    children (the load generator runs); None where there is no /proc (not Linux)."""
    if not Path("/proc/self/stat").exists():
        return None
    master = server.process.pid
    stats = _proc_stats()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Cpu(
        database=sum(seconds for _, command, _, seconds in stats if command == "postgres"),
        app=sum(seconds for pid, _, parent, seconds in stats if master in (pid, parent)),
        load=children.ru_utime + children.ru_stime,
    )


def wrk(url: str, auth: str, seconds: int, offset: int, script: Path) -> Measure:
    output = subprocess.run(
        [
            "wrk",
            "-t",
            str(THREADS),
            "-c",
            str(CONNECTIONS),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            str(offset),
            auth,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return parse_wrk(output)


def _set_up(url: str) -> tuple[str, str]:
    """Create Sluice's tables, a tenant on the example rules and a source; return (auth, id)."""
    import base64

    from app import create_app
    from app.dsl import read_rule_files
    from app.store.customers import create_customer
    from app.store.db import database
    from app.store.migrations import upgrade
    from app.store.models import Source
    from app.store.rules import push_rules
    from app.store.sources import create_source
    from app.store.tenants import create_tenant

    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        upgrade()
        tenant, _, _ = create_tenant("Bench")
        for slug in ("sunco", "brightside", "bargain"):
            create_customer(tenant, slug, slug.title(), 500_000_000)  # 5,000,000.00
        push_rules(tenant, read_rule_files(str(ROOT / "examples" / "solar")), by="bench")
        source, secret = create_source(tenant, "Bench", "solar")
        if "rate_limit" in Source._meta.fields:
            Source.update(rate_limit=RATE_LIMIT).where(Source.id == source.id).execute()
        database.close()
    token = base64.b64encode(f"{source.api_key}:{secret}".encode()).decode()
    return f"Basic {token}", source.public_id


def _outcomes(url: str) -> dict[str, int]:
    import psycopg2

    connection = psycopg2.connect(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM lead GROUP BY 1 ORDER BY 2 DESC")
        rows = dict(cursor.fetchall())
    connection.close()
    return rows


def new_schema() -> tuple[Any, str, str]:
    """Create a schema of the run's own; return an autocommit admin connection (to drop it
    afterwards), its name and the database URL that uses it."""
    import psycopg2

    schema = f"sluice_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(DATABASE_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in DATABASE_URL else "?"
    return admin, schema, f"{DATABASE_URL}{separator}options={quote(f'-csearch_path={schema}')}"


def measure_both(seconds: int = SECONDS, rounds: int = ROUNDS) -> tuple[list, list, dict]:
    """Return (floor measures, Sluice measures, Sluice's lead outcomes)."""

    if shutil.which("wrk") is None:
        raise SystemExit(
            "the intake benchmark needs wrk: apt-get install wrk (Debian, Ubuntu), "
            "brew install wrk (macOS)"
        )
    if rounds * 4 * OFFSET_STEP > UNIQUE_PHONES:  # 4 wrk runs a round
        raise SystemExit(
            f"at most {UNIQUE_PHONES // (4 * OFFSET_STEP)} rounds: beyond, phone numbers "
            "repeat and the leads turn duplicates"
        )
    admin, schema, url = new_schema()
    floors, sluices = [], []
    try:
        from bench.floor_app import create_table

        create_table(url)
        auth, _ = _set_up(url)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        floor_env = {"FLOOR_DATABASE_URL": url, "FLOOR_API_KEY": FLOOR_KEY}
        sluice_env = {"SLUICE_DATABASE_URL": url, "SLUICE_LOG_LEVEL": "INFO"}
        if REDIS_URL:
            sluice_env.update(SLUICE_REDIS_URL=REDIS_URL, SLUICE_RATE_LIMIT_PREFIX=schema)
        offset = 0
        for _ in range(rounds):
            for name, arguments, env, path, key, results, cwd in (
                ("floor", FLOOR_ARGUMENTS, floor_env, "/leads", FLOOR_KEY, floors, ROOT),
                (
                    "sluice",
                    ["-c", "gunicorn.conf.py", "wsgi:app"],
                    sluice_env,
                    "/api/leads",
                    auth,
                    sluices,
                    SLUICE_DIR,
                ),
            ):
                server = Server(arguments, env, cwd)
                try:
                    wrk(server.url + path, key, WARM_UP_SECONDS, offset, Path(script.name))
                    offset += OFFSET_STEP
                    before = cpu_now(server)
                    measure = wrk(server.url + path, key, seconds, offset, Path(script.name))
                    after = cpu_now(server)
                    if before is not None and after is not None:
                        measure = replace(measure, cpu=(after - before).per(measure.requests))
                    results.append(measure)
                    offset += OFFSET_STEP
                finally:
                    server.stop()
                print(f"  {name}: {results[-1]}", flush=True)
        outcomes = _outcomes(url)
        os.unlink(script.name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
    return floors, sluices, outcomes


def median_cpu(measures: list[Measure]) -> Cpu | None:
    """Return the median CPU a request of each part over the rounds, where measured."""
    cpus = [m.cpu for m in measures if m.cpu is not None]
    if not cpus:
        return None
    return Cpu(*(statistics.median(getattr(c, part) for c in cpus) for part in vars(cpus[0])))


def _cpu_notes(
    floor: Cpu | None, sluice: Cpu | None, floor_rps: float, sluice_rps: float
) -> list[str]:
    """Return the notes on CPU a request, and the ceiling they set on Sluice's throughput."""
    if floor is None or sluice is None:
        return []
    busy = sluice.total * sluice_rps / 1000  # cores Sluice kept busy
    best = sluice.database + floor.app + sluice.load  # its database work, the floor's app
    ceiling = busy / best * 1000
    return [
        "CPU a request: PostgreSQL (every server process) + the app (gunicorn's master and "
        "workers, reaped ones included) + wrk, from /proc and this process's waited-for "
        f"children; medians of the rounds. Sluice kept {busy:.2f} of the 2 cores busy, the "
        f"floor {floor.total * floor_rps / 1000:.2f}.",
        f"Ceiling these figures set: Sluice's database work ({sluice.database:.2f} ms a lead) "
        f"served by an app no dearer than the floor's parse + key + INSERT ({floor.app:.2f} "
        f"ms), with wrk, costs {best:.2f} ms a request: on the {busy:.2f} cores Sluice keeps "
        f"busy, {ceiling:,.0f} requests/s, {ceiling / floor_rps:.0%} of the floor. That is "
        "the most any Python pipeline could reach without the database doing less a lead.",
    ]


def run() -> Report:
    """Measure Sluice's intake and the floor; return the report."""
    floors, sluices, outcomes = measure_both()

    def median(measures: list[Measure], attribute: str) -> float:
        return statistics.median(getattr(m, attribute) for m in measures)

    floor_rps, sluice_rps = median(floors, "rps"), median(sluices, "rps")
    ratio = sluice_rps / floor_rps
    p99 = median(sluices, "p99_ms")
    report = Report(
        "Benchmark 4: intake, POST /api/leads end to end (PostgreSQL, gunicorn)",
        [
            "app",
            "requests/s",
            "p50",
            "p99",
            "× floor",
            "CPU a request (PostgreSQL + app + wrk)",
            "requests",
            "failed",
        ],
    )
    cpu = {"floor": median_cpu(floors), "sluice": median_cpu(sluices)}
    for key, name, measures in (
        ("floor", "floor: parse + key + 1 INSERT", floors),
        ("sluice", "Sluice", sluices),
    ):
        report.rows.append(
            [
                name,
                f"{median(measures, 'rps'):,.0f}",
                f"{median(measures, 'p50_ms'):.1f} ms",
                f"{median(measures, 'p99_ms'):.1f} ms",
                f"{median(measures, 'rps') / floor_rps:.0%}",
                cpu[key].text() if cpu[key] else "—",
                f"{sum(m.requests for m in measures):,}",
                f"{sum(m.failed for m in measures):,}",
            ]
        )
    statuses = ", ".join(f"{status} {count:,}" for status, count in outcomes.items())
    report.notes += [
        f"wrk, {CONNECTIONS} connections, {THREADS} threads, {SECONDS} s per measurement after "
        f"{WARM_UP_SECONDS} s of warm-up, {ROUNDS} rounds alternating floor and Sluice; medians "
        f"of the rounds. gunicorn: {WORKERS} sync workers each; both on this machine's "
        "PostgreSQL with the load generator on the same 2 cores.",
        "Sluice: the example solar rule set; every request a new lead (own phone and email), so "
        "each is validated, recorded, checked against dedupe history and bid on, and most are "
        f"sold and charged. Leads by outcome: {statuses}.",
        "The bench source's rate limit is 10^9 a minute (counted, never throttling); limiter "
        f"counters {'in Redis' if REDIS_URL else 'in process memory'}; request logs at INFO "
        "(one JSON line a request, as in production).",
        "Issue reference for the floor on this machine class: ≈2,050 requests/s.",
        *_cpu_notes(cpu["floor"], cpu["sluice"], floor_rps, sluice_rps),
    ]
    report.targets = [
        (f"Sluice ≥ 50% of the floor's throughput ({ratio:.0%})", ratio >= 0.5),
        (f"Sluice p99 ≤ 50 ms ({p99:.1f} ms)", p99 <= 50),
        ("no failed request", all(m.failed == 0 for m in floors + sluices)),
    ]
    return report


def base_rev(given: str | None) -> str:
    """Return the revision a benchmark compares with: the one given, else the merge-base of
    HEAD with main."""
    if given:
        return given
    found = subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def export_revision(rev: str, into: Path) -> None:
    """Unpack the revision's files into a directory (`git archive`), to serve it as it was."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
