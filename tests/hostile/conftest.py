"""Helpers for hostile input: post anything, then check the answer was a clean refusal."""

from __future__ import annotations

import pytest

from app.store.models import Post

REFUSALS = {400, 413, 415, 422}


def recorded_post(response) -> Post:
    """Return the one post recorded for the response's request id."""
    request_id = response.headers["X-Request-Id"]
    posts = list(Post.select().where(Post.request_id == request_id))
    assert len(posts) == 1, f"expected one post for {request_id}, found {len(posts)}"
    return posts[0]


def assert_clean(response, statuses=REFUSALS) -> Post:
    """Assert a JSON answer in the one error shape (or a 201) whose post was recorded."""
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    body = response.json
    assert isinstance(body, dict), response.get_data()[:300]
    if response.status_code >= 400:
        assert set(body) >= {"error", "message", "request_id"}, body
        assert body["request_id"] == response.headers["X-Request-Id"]
    post = recorded_post(response)
    assert post.status_code == response.status_code
    assert post.accepted is (response.status_code == 201)
    return post


@pytest.fixture
def send(world):
    """Return send(data, content_type=..., headers=..., query=...): a raw POST as the source."""

    def post(data=b"", content_type="application/json", headers=None, query=""):
        return world.client.post(
            "/api/leads" + (f"?{query}" if query else ""),
            data=data,
            headers={**world.auth, **(headers or {})},
            content_type=content_type,
        )

    return post
