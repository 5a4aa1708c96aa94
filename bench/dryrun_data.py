"""Benchmark data for the dry-run: a tenant on the example solar rules and N stored leads.

Written with COPY into a schema of its own per N (`sluice_bench_dryrun_1000000`), reused
when it holds the same generation of data, so re-runs are cheap (`fresh=True` rebuilds).
"""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path

PREFIX = "sluice_bench_dryrun"
GENERATION = "3"  # bump when the generated data changes
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "solar"
START = datetime(2024, 3, 1)
DAYS = 90
SOURCES = ("web", "partner-feed", "tv")
PARTNERS = ("acme", "leadco", "bluebird")
STATES = ("CA", "NV", "AZ", "FL", "TX", "NY", "NJ", "GA", "NC", "OH")
FIRST = ("Katy", "Li", "Omar", "Ana", "Joe", "Mei", "Raj", "Sam", "Zoe", "Ivan", "Berry")
LAST = ("Berry", "Chen", "Diaz", "Okafor", "Smith", "Novak", "Patel", "Kim", "Li")
DOMAINS = ("gmail.com", "yahoo.com", "aol.com", "example.com", "mailinator.com")
COLUMNS = (
    "uuid, public_id, tenant_id, source_id, rule_version_id, category, lead_type, status, "
    "data, price_cents, bid_id, partner_id, is_test, received_at, updated_at"
)


def schema_name(n: int) -> str:
    """Return the schema holding the n-lead data."""
    return f"{PREFIX}_{n}"


def schema_url(base_url: str, n: int) -> str:
    """Return the URL of the n-lead schema (search_path set through the options)."""
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema_name(n)}"


def _lead_values(rng: random.Random, phones: list[str]) -> dict:
    """Return one normalized solar lead; about 8% reuse a recent phone (duplicates)."""
    if phones and rng.random() < 0.08:
        phone = rng.choice(phones[-5000:])
    else:
        phone = f"+1{rng.randint(200, 999)}555{rng.randint(0, 9999):04d}"
        phones.append(phone)
        if len(phones) > 20000:
            del phones[:10000]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    values = {
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}{rng.randint(1, 99999)}@{rng.choice(DOMAINS)}",
        "phone": phone,
        "address_1": f"{rng.randint(1, 9999)} Orchard Lane",
        "city": "Paradise Bay",
        "state": rng.choice(STATES),
        "zip": f"{rng.randint(0, 99999):05d}",
        "homeowner": rng.random() < 0.65,
        "monthly_bill": rng.randint(20, 400)
        if rng.random() < 0.7
        else round(rng.uniform(20, 400), 2),
        "roof_type": rng.choice(("shingle", "tile", "metal", "flat")),
        "credit_score": rng.randint(450, 850),
        "dob": f"{rng.randint(1940, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }
    for name in ("email", "address_1", "city", "roof_type", "credit_score", "dob"):
        if rng.random() < 0.15:
            del values[name]
    return values


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _rows(n: int, tenant_id: int, sources: list[int], version_id: int, seed: int):
    rng = random.Random(seed)
    phones: list[str] = []
    step = DAYS * 86400 / max(n, 1)
    for i in range(n):
        at = START + timedelta(seconds=int(i * step + rng.random() * step))
        values = _lead_values(rng, phones)
        yield (
            str(uuid.UUID(int=rng.getrandbits(128))),
            f"lead_bench{i:021d}",
            tenant_id,
            rng.choice(sources),
            version_id,
            "solar",
            None,
            "unassigned",
            json.dumps(values, separators=(",", ":")),
            0,
            None,
            rng.choice(PARTNERS) if rng.random() < 0.4 else None,
            "f",
            at.isoformat(sep=" "),
            at.isoformat(sep=" "),
        )


def prepare(base_url: str, n: int, *, fresh: bool = False, seed: int = 5, log=print) -> str:
    """Create (or reuse) the benchmark schema with n leads; return the schema's URL."""
    import psycopg2

    url = schema_url(base_url, n)
    schema = schema_name(n)
    admin = psycopg2.connect(base_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        if fresh:
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        cursor.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'bench_meta'",
            (schema,),
        )
        if cursor.fetchone():
            cursor.execute(f"SELECT generation, leads FROM {schema}.bench_meta")
            if cursor.fetchone() == (GENERATION, n):
                admin.close()
                log(f"reusing {n:,} benchmark leads in schema {schema}")
                return url
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
    admin.close()
    _populate(url, n, seed, log, schema)
    return url


def _populate(url: str, n: int, seed: int, log, schema: str) -> None:
    from app.dsl import read_rule_files
    from app.store import db
    from app.store.customers import create_customer
    from app.store.migrations import upgrade
    from app.store.rules import push_rules
    from app.store.sources import create_source
    from app.store.tenants import create_tenant

    database = db.bind(url)
    database.connect()
    try:
        upgrade()
        tenant, _, _ = create_tenant("Bench", code="BENCH001")
        for slug in ("sunco", "brightside", "bargain"):
            create_customer(tenant, slug, slug.title(), 10**9)
        version, _ = push_rules(tenant, read_rule_files(str(EXAMPLE)), by="bench")
        sources = [create_source(tenant, name, "solar")[0].id for name in SOURCES]
        log(f"generating {n:,} leads with COPY into schema {schema} ...")
        connection = database.connection()
        batch = 100_000
        rows = _rows(n, tenant.id, sources, version.id, seed)
        with connection.cursor() as cursor:
            done = 0
            while done < n:
                buffer = io.StringIO()
                for _ in range(min(batch, n - done)):
                    buffer.write("\t".join(_copy_text(v) for v in next(rows)) + "\n")
                buffer.seek(0)
                cursor.copy_expert(f"COPY lead ({COLUMNS}) FROM STDIN", buffer)
                done += min(batch, n - done)
            cursor.execute("CREATE TABLE bench_meta (generation text, leads int)")
            cursor.execute("INSERT INTO bench_meta VALUES (%s, %s)", (GENERATION, n))
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE lead")
        connection.autocommit = False
    finally:
        database.close()


def drop(base_url: str) -> None:
    """Drop every benchmark schema."""
    import psycopg2

    admin = psycopg2.connect(base_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (PREFIX + "\\_%",))
        for (schema,) in cursor.fetchall():
            cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()
