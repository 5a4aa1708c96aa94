"""Guessing credentials is rate limited per address; the real source is never locked out."""

from __future__ import annotations

import base64

import pytest

from app.store.models import Post


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


@pytest.mark.parametrize(
    "guess",
    [
        lambda world, n: basic(world.source.api_key, f"sks_guess{n}"),  # the key is public
        lambda world, n: basic(f"skk_guess{n}", "x"),
        lambda world, n: {"Authorization": f"Bearer sbt_guess{n}"},
    ],
    ids=["secret", "key", "bearer"],
)
def test_guessing_credentials_is_rate_limited(app, world, seed_lead, guess):
    limit = app.config["AUTH_FAILURE_LIMIT"]
    statuses = [
        world.client.post("/api/leads", json=seed_lead, headers=guess(world, n)).status_code
        for n in range(limit + 5)
    ]
    assert statuses == [401] * limit + [429] * 5
    refused = world.client.post("/api/leads", json=seed_lead, headers=guess(world, 999))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json["error"] == "rate_limited"
    # The source itself still gets in: failures are counted, not the address's successes.
    assert world.post(seed_lead).status_code == 201
    assert Post.select().count() == 1  # guesses have no tenant: nothing recorded
