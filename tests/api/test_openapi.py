"""The OpenAPI document and its interactive page."""

import json

import schemathesis


def test_openapi_document_describes_intake_and_admin(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    intake = spec["paths"]["/api/leads"]["post"]
    assert set(intake["responses"]) >= {"201", "400", "401", "413", "415", "422", "500", "503"}
    created = spec["components"]["schemas"]["LeadCreated"]
    assert set(created["properties"]) == {
        "lead_uuid",
        "lead_public_id",
        "status",
        "price",
        "redirect_url",
    }
    assert "distribution_error" in created["properties"]["status"]["enum"]
    assert {"basicAuth", "sourceBearer", "userBearer"} <= set(spec["components"]["securitySchemes"])
    assert "/api/admin/leads" in spec["paths"]
    assert spec["paths"]["/api/admin/customers"]["post"]["security"] == [{"userBearer": []}]


def test_the_document_is_valid_openapi_3_1(client):
    # 3.1 for its `webhooks` section (docs/webhooks.md); checked against the OAS 3.1 schema.
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(spec).validate()
    api_key = spec["components"]["schemas"]["Source"]["properties"]["api_key"]
    assert api_key["type"] == ["string", "null"]  # 3.1 has no `nullable`
    assert '"nullable"' not in json.dumps(spec)


def test_interactive_docs_page(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"swagger-ui" in response.data
    assert b"/api/openapi.json" in response.data
    script = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.data) > 100_000
    assert b"isOAS31" in script.data  # Swagger UI 5: it shows OpenAPI 3.1 and its webhooks
    script.close()


def test_unknown_paths_are_json_404(client):
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json["error"] == "not_found"


def test_wrong_method_is_json_405(client):
    response = client.get("/api/leads")
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"
