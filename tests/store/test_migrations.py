from app.store.migrations import MIGRATIONS, applied_versions, pending, upgrade


def test_upgrade_applies_every_migration_once(db):
    assert applied_versions() == {version for version, _, _ in MIGRATIONS}
    assert pending() == []
    assert upgrade() == []


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}
    assert response.headers["X-Request-Id"].startswith("req_")


def test_lead_deletion_adds_its_column_to_an_older_schema(db):
    from app.store.db import database
    from app.store.migrations import _lead_deletion

    def columns() -> set[str]:
        return {column.name for column in database.get_columns("lead")}

    _lead_deletion()  # a schema built from the models has it already: nothing to do
    assert "deleted_at" in columns()
    database.execute_sql("ALTER TABLE lead DROP COLUMN deleted_at")
    assert "deleted_at" not in columns()
    _lead_deletion()
    assert "deleted_at" in columns()


def test_returns_add_their_columns_with_the_default_policy(db):
    from app.store.customers import create_customer
    from app.store.db import database
    from app.store.migrations import _returns
    from app.store.models import Customer
    from app.store.tenants import create_tenant

    def columns(table: str) -> set[str]:
        return {column.name for column in database.get_columns(table)}

    _returns()  # a schema built from the models has them already: nothing to do
    tenant, _, _ = create_tenant("Older")
    create_customer(tenant, "sunco", "Sunco")
    for column in ("return_window_days", "return_limit_percent"):
        database.execute_sql(f"ALTER TABLE customer DROP COLUMN {column}")
    database.execute_sql("ALTER TABLE tenant DROP COLUMN return_reasons")
    assert "return_window_days" not in columns("customer")
    _returns()
    assert {"return_window_days", "return_limit_percent"} <= columns("customer")
    assert "return_reasons" in columns("tenant")
    customer = Customer.get(Customer.slug == "sunco")  # an existing customer: the defaults
    assert (customer.return_window_days, customer.return_limit_percent) == (7, 15)


def test_customer_users_adds_its_column_to_an_older_schema(db):
    import pytest

    from app.store.db import database, is_postgresql
    from app.store.migrations import _customer_users

    def columns() -> set[str]:
        return {column.name for column in database.get_columns("user")}

    _customer_users()  # a schema built from the models has it already: nothing to do
    assert "customer_id" in columns()
    if not is_postgresql():
        pytest.skip("SQLite cannot drop a column holding a foreign key to test the upgrade")
    database.execute_sql('ALTER TABLE "user" DROP COLUMN customer_id')
    assert "customer_id" not in columns()
    _customer_users()
    assert "customer_id" in columns()
    keys = database.get_foreign_keys("user")
    assert [(k.column, k.dest_table) for k in keys if k.column == "customer_id"] == [
        ("customer_id", "customer")
    ]
