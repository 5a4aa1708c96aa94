"""Fixtures of the intake's edges: Routio-style tenants, rate-limit stores, real servers.

Rate-limit tests run on the in-memory store always, and on Redis when
SLUICE_TEST_REDIS_URL is set (each test under a key prefix of its own); with
SLUICE_REQUIRE_SERVICES=1 an unreachable Redis fails them instead of skipping.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.http import send_together
from tests.servers import Gunicorn

ROOT = Path(__file__).resolve().parents[2]
AUTO_RULES = (Path(__file__).parent / "rules" / "auto.rules").read_text()
REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL")
REQUIRE_SERVICES = os.environ.get("SLUICE_REQUIRE_SERVICES") == "1"
STORES = ["memory", "redis"] if REDIS_URL else ["memory"]

# Routio's documented cURL request (Lead Ingestion API, "Code Examples"), body verbatim.
ROUTIO_CURL_BODY = """{
    "seller": "ACME1234",
    "category": "Auto Insurance",
    "firstName": "John",
    "lastName": "Doe",
    "phone": "555-123-4567",
    "email": "john@email.com",
    "state": "TX"
  }"""
# Routio's "Request Body" example, which also sends zip and city.
ROUTIO_REQUEST_BODY = {
    "seller": "ACME1234",
    "category": "Auto Insurance",
    "firstName": "John",
    "lastName": "Doe",
    "email": "john.doe@email.com",
    "phone": "555-123-4567",
    "state": "TX",
    "zip": "75001",
    "city": "Dallas",
}


@pytest.fixture(scope="session")
def redis_url():
    """Return SLUICE_TEST_REDIS_URL once Redis answers (skip, or fail when required)."""
    import redis

    if not REDIS_URL:
        message = "SLUICE_TEST_REDIS_URL is not set"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as error:
        message = f"Redis at SLUICE_TEST_REDIS_URL is unreachable: {error}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def redis_prefix(app):
    """Return a Redis key prefix of this test's own, and delete its keys afterwards."""
    prefix = f"sluice-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    if REDIS_URL:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass
        finally:
            client.close()


@pytest.fixture(params=STORES)
def rate_store(request, app, redis_prefix):
    """Keep the app's rate limits in memory, then (when available) in Redis."""
    from app.api.ratelimit import EXTENSION, RateLimiter

    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        app.config.update(REDIS_URL=url, RATE_LIMIT_PREFIX=redis_prefix)
        app.extensions[EXTENSION] = RateLimiter(url, redis_prefix)
    return request.param


@dataclass
class RoutioWorld:
    """A tenant (code ACME1234) on the auto rules with a Routio-style source."""

    tenant: object
    source: object
    key: str
    admin_token: str
    client: object

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def post(self, body=None, headers=None, query: str = "", **kwargs):
        """POST JSON (or `data=`) as the source."""
        return self.client.post(
            "/api/leads" + query, json=body, headers={**self.auth, **(headers or {})}, **kwargs
        )


@pytest.fixture
def make_routio(db, client):
    """Return a factory: make_routio(rules, customers, category=None, test_mode=False)."""
    from app.domain.money import to_cents
    from app.store.customers import create_customer
    from app.store.rules import push_rules
    from app.store.sources import create_source
    from app.store.tenants import create_tenant

    def make(rules=AUTO_RULES, customers=None, *, code="ACME1234", name="Acme", **options):
        if customers is None:
            customers = {"lonestar": "1000", "roadrunner": "1000"}
        tenant, _, token = create_tenant(name, code)
        for slug, balance in customers.items():
            create_customer(tenant, slug, slug.title(), to_cents(balance))
        if rules is not None:
            push_rules(tenant, {"rules.rules": rules}, by="tests")
        source, key = create_source(
            tenant,
            "Partner feed",
            options.pop("category", None),
            options.pop("test_mode", False),
            api_style="routio",
            **options,
        )
        db.close()
        return RoutioWorld(tenant, source, key, token, client)

    return make


@pytest.fixture
def routio(make_routio):
    """A Routio-style tenant on the auto rules; lonestar and roadrunner have 1,000.00."""
    return make_routio()


@pytest.fixture
def routio_body():
    """Return the body of Routio's documented cURL request, as a dict."""
    return json.loads(ROUTIO_CURL_BODY)


@pytest.fixture
def routio_curl_body():
    """Return the body of Routio's documented cURL request, as sent (text)."""
    return ROUTIO_CURL_BODY


@pytest.fixture
def routio_request_body():
    """Return Routio's "Request Body" example (with zip and city)."""
    return dict(ROUTIO_REQUEST_BODY)


@pytest.fixture
def auto_rules():
    """Return the text of the Auto Insurance rules (tests/api/rules/auto.rules)."""
    return AUTO_RULES


# -- real servers, for requests that must really run at the same time ---------------------


def _fire(url: str, requests: list[tuple[dict, bytes]]) -> list[tuple[int, dict, bytes]]:
    """POST every (headers, body) to the intake at the same moment; return (status, headers,
    body) each."""
    calls = [("POST", "/api/leads", headers, body) for headers, body in requests]
    return [(a.status, a.headers, a.body) for a in send_together(url, calls)]


@pytest.fixture
def fire():
    """Return fire(url, [(headers, body), ...]): POSTs released together by a barrier."""
    return _fire


@pytest.fixture
def gunicorn(app, database_url):
    """Return a starter of gunicorn (3 workers) serving the app with extra environment."""
    servers = []

    def start(**environment: str) -> str:
        servers.append(Gunicorn(database_url, workers=3, env=environment).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()
