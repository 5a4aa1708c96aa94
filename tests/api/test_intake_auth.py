"""Authenticating sources: Basic (key, secret) or bearer token; 401 JSON otherwise."""

import base64
import io
import logging

import pytest

from app.api.logs import JsonFormatter
from app.store.models import Post, Source, SourceToken
from app.store.sources import create_token, revoke_tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic_auth(key: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_basic_auth_with_key_and_secret(world, seed_lead):
    assert world.post(seed_lead).status_code == 201


def test_bearer_token(world, client, seed_lead):
    _, token = create_token(world.source)
    response = client.post("/api/leads", json=seed_lead, headers=bearer(token))
    assert response.status_code == 201


def test_token_from_the_admin_api_works(world, client, seed_lead):
    url = f"/api/admin/sources/{world.source.public_id}/tokens"
    created = client.post(url, headers=world.admin)
    assert created.status_code == 201
    token = created.json["token"]
    response = client.post("/api/leads", json=seed_lead, headers=bearer(token))
    assert response.status_code == 201


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer sbt_unknown"},
        {"Authorization": "Token abc"},
    ],
    ids=["none", "malformed-basic", "empty-bearer", "unknown-bearer", "other-scheme"],
)
def test_missing_or_malformed_credentials_are_401(world, client, seed_lead, headers):
    response = client.post("/api/leads", json=seed_lead, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert "Basic" in response.headers["WWW-Authenticate"]
    assert Post.select().count() == 0


def test_wrong_secret_is_401(world, client, seed_lead):
    headers = basic_auth(world.source.api_key, world.secret + "x")
    assert client.post("/api/leads", json=seed_lead, headers=headers).status_code == 401


def test_unknown_key_is_401(world, client, seed_lead):
    headers = basic_auth("skk_nobody", world.secret)
    assert client.post("/api/leads", json=seed_lead, headers=headers).status_code == 401


def test_revoked_token_is_401(world, client, seed_lead):
    _, token = create_token(world.source)
    revoke_tokens(world.source)
    response = client.post("/api/leads", json=seed_lead, headers=bearer(token))
    assert response.status_code == 401


def test_inactive_source_is_401(world, seed_lead):
    Source.update(active=False).where(Source.id == world.source.id).execute()
    assert world.post(seed_lead).status_code == 401


def test_user_token_does_not_authenticate_a_source(world, client, seed_lead):
    response = client.post("/api/leads", json=seed_lead, headers=world.admin)
    assert response.status_code == 401


def test_secrets_and_tokens_are_stored_hashed(world):
    _, token = create_token(world.source)
    source = Source.get_by_id(world.source.id)
    assert world.secret not in source.secret_hash
    assert len(source.secret_hash) == 64
    assert all(row.token_hash != token for row in SourceToken.select())


def test_requests_are_logged_as_json_with_request_id_and_no_secret(world, seed_lead):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sluice")
    logger.addHandler(handler)
    try:
        response = world.post(seed_lead, headers={"X-Request-Id": "trace-123"})
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-Id"] == "trace-123"
    output = stream.getvalue()
    assert '"request_id": "trace-123"' in output
    assert '"path": "/api/leads"' in output
    encoded = base64.b64encode(f"{world.source.api_key}:{world.secret}".encode()).decode()
    assert world.secret not in output and encoded not in output
