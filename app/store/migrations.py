"""Schema creation and upgrades: numbered migrations recorded in `schema_migrations`.

Each migration runs once, in a transaction, in order. Migration 1 creates the tables from
the models as they are; later migrations must be written so that they are no-ops on a
schema that migration 1 already created with the newer model (check before altering).
"""

from __future__ import annotations

from collections.abc import Callable

import peewee as pw

from app.domain.clock import utcnow
from app.store.db import database, is_postgresql
from app.store.models import MODELS

MIGRATION_LOCK = 0x51C5  # pg_advisory_xact_lock key: one upgrader at a time
DELIVERY_CHANNEL = "sluice_delivery"  # NOTIFY channel: a delivery is due


class SchemaMigration(pw.Model):
    version = pw.IntegerField(primary_key=True)
    name = pw.CharField(max_length=200)
    applied_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "schema_migrations"


def _create_tables() -> None:
    database.create_tables(MODELS, safe=True)


def _source_styles_limits_and_idempotency() -> None:
    # Issue 4: Routio-style sources, per-source rate limits, Idempotency-Key records.
    # On a schema migration 1 made from the current models this changes nothing.
    from app.store.models import IdempotencyKey, Source

    table = Source._meta.table_name
    columns = {column.name for column in database.get_columns(table)}
    if "api_style" not in columns:
        database.execute_sql(
            f'ALTER TABLE "{table}" ADD COLUMN "api_style" VARCHAR(16) NOT NULL DEFAULT \'native\''
        )
    if "rate_limit" not in columns:
        database.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "rate_limit" INTEGER')
    database.create_tables([IdempotencyKey], safe=True)


def _sale_race_signal() -> None:
    # Issue 6: a sale that lost its race raises SQLSTATE SL409, so the statement that writes
    # it can be followed by COMMIT in the same round trip (app/store/sales.py).
    if is_postgresql():
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION sluice_sale_lost(reason text) RETURNS bigint"
            " LANGUAGE plpgsql AS $body$ BEGIN RAISE EXCEPTION USING"
            " MESSAGE = 'sale lost its race: ' || reason, ERRCODE = 'SL409'; END $body$"
        )


def _lead_check_signal() -> None:
    # Issue 6: the routing's lead lock raises SQLSTATE SL423 when the lead may not be routed,
    # so the lock can travel with the routing's next statement (app/store/leads.py).
    if is_postgresql():
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION sluice_not_routable(status text) RETURNS integer"
            " LANGUAGE plpgsql AS $body$ BEGIN RAISE EXCEPTION USING"
            " MESSAGE = COALESCE(status, 'missing'), ERRCODE = 'SL423'; END $body$"
        )


def _lead_projections() -> None:
    # Issue 5: the catalog of lead value projections (app/analysis/projection.py).
    from app.store.models import LeadProjection

    database.create_tables([LeadProjection], safe=True)


def _delivery_destinations() -> None:
    # Issue 16: customers' delivery destinations (app/store/destinations.py).
    from app.store.models import DeliveryDestination

    database.create_tables([DeliveryDestination], safe=True)


def _deliveries() -> None:
    # Issue 16: tenants' webhooks (destinations without a customer), the delivery outbox,
    # its attempts and workers (app/store/deliveries.py); NOTIFY wakes idle workers.
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Delivery, DeliveryAttempt, DeliveryDestination, DeliveryWorker

    table = DeliveryDestination._meta.table_name
    columns = {column.name: column for column in database.get_columns(table)}
    migrator = SchemaMigrator.from_database(database)
    fields = DeliveryDestination._meta.fields
    operations = [
        migrator.add_column(table, fields[name].column_name, fields[name])
        for name in ("events", "failures", "failing_since", "removed_at")
        if fields[name].column_name not in columns
    ]
    if not columns["customer_id"].null:
        operations.append(migrator.drop_not_null(table, "customer_id"))
    if operations:
        migrate(*operations)
        database.create_tables([DeliveryDestination], safe=True)  # its indexes
    database.create_tables([DeliveryWorker, Delivery, DeliveryAttempt], safe=True)
    if is_postgresql():
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION sluice_delivery_due() RETURNS trigger"
            " LANGUAGE plpgsql AS $body$ BEGIN"
            f" PERFORM pg_notify('{DELIVERY_CHANNEL}', ''); RETURN NULL; END $body$"
        )
        database.execute_sql(
            "CREATE OR REPLACE TRIGGER delivery_due AFTER INSERT OR UPDATE OF status ON delivery"
            " FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION sluice_delivery_due()"
        )


def _lead_deletion() -> None:
    # Issue 17: a deleted lead keeps its row, its data erased (app/store/deletion.py).
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Lead

    table = Lead._meta.table_name
    field = Lead._meta.fields["deleted_at"]
    if field.column_name not in {column.name for column in database.get_columns(table)}:
        migrate(SchemaMigrator.from_database(database).add_column(table, field.column_name, field))


def _reverse_auctions() -> None:
    # Issue 17: CSV imports and the reverse auctions they create (app/store/auctions.py).
    from app.store.models import Auction, LeadImport

    database.create_tables([LeadImport, Auction], safe=True)


def _withheld_leads() -> None:
    # Issue 17: a tenant's monthly lead threshold and its per-month counter
    # (app/store/usage.py), and the signal of a lead over it (SQLSTATE SL429).
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import LeadUsage, Tenant

    table = Tenant._meta.table_name
    field = Tenant._meta.fields["monthly_lead_threshold"]
    if field.column_name not in {column.name for column in database.get_columns(table)}:
        migrate(SchemaMigrator.from_database(database).add_column(table, field.column_name, field))
    database.create_tables([LeadUsage], safe=True)
    if is_postgresql():
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION sluice_over_threshold(reason text) RETURNS bigint"
            " LANGUAGE plpgsql AS $body$ BEGIN RAISE EXCEPTION USING"
            " MESSAGE = 'over the monthly threshold: ' || reason, ERRCODE = 'SL429'; END $body$"
        )


def _marketplace() -> None:
    # Issue 17: a marketplace lead's claim price; a customer's claims a day.
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Customer, Lead

    migrator = SchemaMigrator.from_database(database)
    for model, name in ((Lead, "offer_cents"), (Customer, "claims_per_day")):
        table = model._meta.table_name
        field = model._meta.fields[name]
        if field.column_name not in {column.name for column in database.get_columns(table)}:
            migrate(migrator.add_column(table, field.column_name, field))


def _jobs() -> None:
    # Issue 17: background jobs (bulk reprocessing), run by the delivery workers.
    from app.store.models import Job

    database.create_tables([Job], safe=True)


def _customer_users() -> None:
    # Issue 17: a customer's own users, for the customer API (app/store/tenants.py).
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import User

    table = User._meta.table_name
    field = User._meta.fields["customer"]
    if field.column_name not in {column.name for column in database.get_columns(table)}:
        migrate(SchemaMigrator.from_database(database).add_column(table, field.column_name, field))


def _returns() -> None:
    # Issue 17: tenants' return reasons, customers' return policies (app/store/returns.py).
    # A column's DEFAULT fills the existing rows: every customer gets the default policy.
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Customer, Tenant

    table = Customer._meta.table_name
    columns = {column.name for column in database.get_columns(table)}
    if "return_window_days" not in columns:
        database.execute_sql(
            f'ALTER TABLE "{table}" ADD COLUMN "return_window_days" INTEGER NOT NULL DEFAULT 7'
        )
    if "return_limit_percent" not in columns:
        database.execute_sql(
            f'ALTER TABLE "{table}" ADD COLUMN "return_limit_percent" INTEGER DEFAULT 15'
        )
    table = Tenant._meta.table_name
    field = Tenant._meta.fields["return_reasons"]
    if field.column_name not in {column.name for column in database.get_columns(table)}:
        migrate(SchemaMigrator.from_database(database).add_column(table, field.column_name, field))


def _secret_overlap() -> None:
    # Issue 17: a source's old API secret keeps working for an overlap after a rotation.
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Source

    table = Source._meta.table_name
    present = {column.name for column in database.get_columns(table)}
    migrator = SchemaMigrator.from_database(database)
    fields = Source._meta.fields
    operations = [
        migrator.add_column(table, fields[name].column_name, fields[name])
        for name in ("previous_secret_hash", "previous_secret_expires_at")
        if fields[name].column_name not in present
    ]
    if operations:
        migrate(*operations)


def _partners() -> None:
    # Issue 18: tenants' partners and enrichment providers (app/store/partners.py).
    from app.store.models import Partner

    database.create_tables([Partner], safe=True)


def _pings() -> None:
    # Issue 18: inbound pings (the ping log), the sources' ping settings and the lead's link
    # to its ping (app/store/pings.py).
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Lead, Ping, Source

    database.create_tables([Ping], safe=True)
    migrator = SchemaMigrator.from_database(database)
    added = ((Source, ("ping_bids_shown", "ping_ttl_seconds", "internal")), (Lead, ("ping",)))
    for model, names in added:
        table = model._meta.table_name
        present = {column.name for column in database.get_columns(table)}
        for name in names:
            field = model._meta.fields[name]
            if field.column_name not in present:
                migrate(migrator.add_column(table, field.column_name, field))


def _outbound() -> None:
    # Issue 18: a posted lead's partner and the enrich stages' answers (app/services/outbound.py).
    from playhouse.migrate import SchemaMigrator, migrate

    from app.store.models import Lead

    migrator = SchemaMigrator.from_database(database)
    present = {column.name for column in database.get_columns(Lead._meta.table_name)}
    for name in ("posted_partner", "enriched"):
        field = Lead._meta.fields[name]
        if field.column_name not in present:
            migrate(migrator.add_column(Lead._meta.table_name, field.column_name, field))


MIGRATIONS: tuple[tuple[int, str, Callable[[], None]], ...] = (
    (1, "create tables", _create_tables),
    (10, "source api style, rate limit; idempotency keys", _source_styles_limits_and_idempotency),
    (30, "sale race signal (PostgreSQL)", _sale_race_signal),
    (31, "lead check signal (PostgreSQL)", _lead_check_signal),
    (32, "lead value projections", _lead_projections),
    (40, "delivery destinations", _delivery_destinations),
    (41, "tenant webhooks, deliveries and their attempts", _deliveries),
    (42, "lead deletion", _lead_deletion),
    (43, "return reasons and policies", _returns),
    (44, "customer users", _customer_users),
    (45, "marketplace claims: offer price, claims a day", _marketplace),
    (47, "background jobs", _jobs),
    (48, "withheld leads: monthly threshold and usage", _withheld_leads),
    (49, "lead imports and reverse auctions", _reverse_auctions),
    (50, "source secret overlap", _secret_overlap),
    (51, "partners and enrichment providers", _partners),
    (52, "inbound pings and the sources' ping settings", _pings),
    (53, "posted partner and enriched data of a lead", _outbound),
)


def applied_versions() -> set[int]:
    """Return the versions already applied (empty on a new database)."""
    if not database.table_exists(SchemaMigration._meta.table_name):
        return set()
    return {row.version for row in SchemaMigration.select(SchemaMigration.version)}


def upgrade() -> list[str]:
    """Apply the pending migrations; return their names (empty when up to date)."""
    applied = []
    with database.atomic():
        if is_postgresql():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        database.create_tables([SchemaMigration], safe=True)
        done = applied_versions()
        for version, name, migrate in MIGRATIONS:
            if version in done:
                continue
            migrate()
            SchemaMigration.create(version=version, name=name)
            applied.append(f"{version:04d} {name}")
    return applied


def pending() -> list[str]:
    """Return the names of the migrations not yet applied."""
    done = applied_versions()
    return [f"{v:04d} {name}" for v, name, _ in MIGRATIONS if v not in done]
