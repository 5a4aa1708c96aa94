"""The base URL of a source's API specification: SLUICE_PUBLIC_URL, else the request's own."""

import pytest

SPEC = "/api/admin/sources/{}/spec"


@pytest.fixture
def spec_of(world, client, app):
    """Return a function: the spec's endpoint URL as answered to a request with headers."""

    def endpoint(headers=None, **config):
        app.config.update(config)
        response = client.get(
            SPEC.format(world.source.public_id),
            headers={**world.admin, **(headers or {})},
            base_url="http://sluice.internal:8000",
        )
        assert response.status_code == 200, response.json
        url = response.json["endpoint"]["url"]
        assert url in response.json["example_request"]
        return url

    return endpoint


def test_the_configured_public_url_wins(spec_of):
    assert spec_of(PUBLIC_URL="https://leads.example.com/") == "https://leads.example.com/api/leads"


def test_without_a_public_url_the_request_host_is_used(spec_of):
    assert spec_of(PUBLIC_URL=None) == "http://sluice.internal:8000/api/leads"


def test_forwarded_headers_count_only_from_trusted_proxies(spec_of):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "leads.example.com"}
    untrusted = spec_of(forwarded, PUBLIC_URL=None, TRUSTED_PROXIES=0)
    assert untrusted == "http://sluice.internal:8000/api/leads"
    trusted = spec_of(forwarded, PUBLIC_URL=None, TRUSTED_PROXIES=1)
    assert trusted == "https://leads.example.com/api/leads"


def test_the_outermost_trusted_proxy_entry_is_used(spec_of):
    # The client wrote "evil.example"; the one trusted proxy appended what it received.
    forwarded = {"X-Forwarded-Host": "evil.example, leads.example.com"}
    assert spec_of(forwarded, PUBLIC_URL=None, TRUSTED_PROXIES=1) == (
        "http://leads.example.com/api/leads"
    )


def test_a_malformed_forwarded_host_is_ignored(spec_of):
    forwarded = {"X-Forwarded-Host": "leads.example.com/evil?x=", "X-Forwarded-Proto": "gopher"}
    assert spec_of(forwarded, PUBLIC_URL=None, TRUSTED_PROXIES=1) == (
        "http://sluice.internal:8000/api/leads"
    )
