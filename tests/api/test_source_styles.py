"""What issue 4 adds around sources: the schema upgrade, and the OpenAPI document."""

from app.store.db import database
from app.store.migrations import SchemaMigration, upgrade
from app.store.models import IdempotencyKey, Source


def test_upgrade_adds_styles_limits_and_idempotency_to_an_older_schema(world, seed_lead, db):
    table = Source._meta.table_name
    # The schema as migration 1 made it before issue 4, with a source in it.
    with database.atomic():
        database.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "api_style"')
        database.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "rate_limit"')
        database.drop_tables([IdempotencyKey])
        SchemaMigration.delete().where(SchemaMigration.version == 10).execute()
    assert upgrade() == ["0010 source api style, rate limit; idempotency keys"]
    columns = {c.name: c for c in database.get_columns(table)}
    assert {"api_style", "rate_limit"} <= set(columns)
    assert columns["api_style"].null is False
    source = Source.get_by_id(world.source.id)
    assert (source.api_style, source.rate_limit) == ("native", None)
    assert database.table_exists(IdempotencyKey._meta.table_name)
    db.close()
    response = world.post(seed_lead, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 201
    assert world.post(seed_lead, headers={"Idempotency-Key": "k1"}).data == response.data
    assert upgrade() == []


def test_openapi_documents_both_styles_limits_and_idempotency(client):
    spec = client.get("/api/openapi.json").json
    intake = spec["paths"]["/api/leads"]["post"]
    assert {"200", "201", "409", "429"} <= set(intake["responses"])
    assert {p["name"] for p in intake["parameters"]} >= {"Idempotency-Key", "X-Partner-Id"}
    assert "multipart/form-data" in intake["requestBody"]["content"]
    routio = spec["components"]["schemas"]["RoutioLead"]
    assert {"success", "lead_id", "status", "price", "buyer_ids"} <= set(routio["properties"])
    source = spec["components"]["schemas"]["Source"]
    assert {"api_style", "rate_limit"} <= set(source["properties"])
