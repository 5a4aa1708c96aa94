"""GET /: an index pointing to the API's docs, its OpenAPI document and the health check."""


def test_index_answers_json_links_that_work(client):
    response = client.get("/")
    assert response.status_code == 200 and response.is_json
    links = response.json["links"]
    assert links == {"docs": "/api/docs", "openapi": "/api/openapi.json", "health": "/healthz"}
    for path in links.values():
        answer = client.get(path)
        assert answer.status_code == 200, path
        answer.close()


def test_index_answers_html_to_a_browser(client):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get("/", headers={"Accept": browser})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b'href="/api/docs"' in response.data and b'href="/healthz"' in response.data
