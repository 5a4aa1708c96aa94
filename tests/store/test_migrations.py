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
