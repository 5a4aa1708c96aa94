"""No-code integrations (docs/integrations.md): each posts exactly what the tool sends.

Zapier's "Webhooks by Zapier" POST action and Make's HTTP "Make a request" module, with the
settings the guide gives; Typeform and Jotform through them. Their own webhooks cannot carry
credentials in a header, and Sluice takes none in URLs: they are refused.
"""

import base64
import json
from io import BytesIO
from urllib.parse import urlencode

from app.store.models import Lead, Post

ZAPIER_AGENT = {"User-Agent": "Zapier"}
MAKE_AGENT = {"User-Agent": "Make/production"}


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def test_zapier_post_form_payload_with_basic_auth(world, seed_lead):
    # Payload Type: Form; Data: one row per field; Basic Auth: API_KEY|API_SECRET.
    response = world.client.post(
        "/api/leads",
        data=urlencode(seed_lead),
        headers={
            **ZAPIER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic(world.source.api_key, world.secret),
        },
    )
    assert response.status_code == 201
    assert response.json["status"] == "assigned"
    assert Lead.get().data["phone"] == "+15551234567"


def test_zapier_post_json_payload_to_a_routio_source(routio, routio_body):
    # Payload Type: Json; Headers: Authorization | Bearer <API key>. Zapier sends text values.
    body = {**routio_body, "insured": "true", "vehicleYear": "2019", "zip": "75001"}
    response = routio.client.post(
        "/api/leads",
        data=json.dumps(body),
        headers={
            **ZAPIER_AGENT,
            "Content-Type": "application/json",
            "Authorization": f"Bearer {routio.key}",
        },
    )
    assert response.status_code == 200
    assert response.json["status"] == "sold"
    assert Lead.get().data["vehicle_year"] == 2019


def test_typeform_answers_through_zapier(world):
    # Typeform "New Entry" trigger mapped onto the solar fields; Typeform sends phone numbers
    # in E.164, yes/no answers as true/false, and this form asks for the state by name.
    answers = {
        "first_name": "Katy",
        "last_name": "Berry",
        "email": "Katy.Berry@Example.com",
        "phone": "+15551234567",
        "state": "Florida",
        "zip": "33139",
        "homeowner": "true",
        "monthly_bill": "180",
    }
    response = world.client.post(
        "/api/leads",
        data=urlencode(answers),
        headers={
            **ZAPIER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic(world.source.api_key, world.secret),
        },
    )
    assert response.status_code == 201
    data = Lead.get().data
    assert (data["state"], data["homeowner"], data["email"]) == (
        "FL",
        True,
        "katy.berry@example.com",
    )
    assert Lead.get().lead_type == "premium"


def test_make_http_request_raw_json(routio, routio_body):
    # Make a request: Method POST; Headers: Authorization = Bearer <API key>; Body type Raw,
    # Content type JSON (application/json); Request content: the fields as JSON.
    body = json.dumps(routio_body, indent=2)
    response = routio.client.post(
        "/api/leads",
        data=body.encode(),
        headers={
            **MAKE_AGENT,
            "Content-Type": "application/json",
            "Authorization": f"Bearer {routio.key}",
        },
    )
    assert response.status_code == 200
    assert response.json["status"] == "sold"


def test_jotform_submission_through_make(routio):
    # Jotform "Watch for submissions" mapped in Make: the Full Name field's first and last
    # parts, the phone as Jotform formats it, the address's state as a name.
    body = {
        "seller": "ACME1234",
        "category": "Auto Insurance",
        "firstName": "John",
        "lastName": "Doe",
        "phone": "(555) 123-4567",
        "email": "john@email.com",
        "address1": "1 Main St",
        "city": "Dallas",
        "state": "Texas",
        "zip": "75001",
    }
    response = routio.client.post(
        "/api/leads",
        data=json.dumps(body),
        headers={**MAKE_AGENT, "Content-Type": "application/json", **routio.auth},
    )
    assert response.status_code == 200
    assert Lead.get().data["state"] == "TX"


def test_make_url_encoded_and_multipart_bodies(world, seed_lead):
    headers = {**MAKE_AGENT, "Authorization": basic(world.source.api_key, world.secret)}
    form = world.client.post(
        "/api/leads",
        data=urlencode(seed_lead),
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 201
    # multipart/form-data with a file part: the fields are read, the file is not lead data.
    fields = dict(seed_lead, phone="555-123-9999", email="other@example.com")
    fields["attachment"] = (BytesIO(b"%PDF-1.4 not a lead"), "quote.pdf", "application/pdf")
    multipart = world.client.post(
        "/api/leads", data=fields, headers=headers, content_type="multipart/form-data"
    )
    assert multipart.status_code == 201, multipart.json
    lead = Lead.get(Lead.public_id == multipart.json["lead_public_id"])
    assert lead.data["phone"] == "+15551239999"
    assert "attachment" not in lead.post.payload


def test_query_string_fields_under_a_json_body(world, seed_lead):
    # A tool that can only set the URL for some fields: the body wins where both have one.
    body = {k: v for k, v in seed_lead.items() if k not in ("city", "zip")}
    response = world.client.post(
        "/api/leads?city=Miami&zip=33101&first_name=Query",
        json=body,
        headers=world.auth,
    )
    assert response.status_code == 201
    data = Lead.get().data
    assert (data["city"], data["zip"], data["first_name"]) == ("Miami", "33101", "Katy")


def test_jotforms_own_webhook_is_refused(world, routio):
    # What Jotform's webhook sends: multipart/form-data with the answers as JSON in
    # rawRequest, and no way to add an Authorization header.
    raw = {
        "q3_fullName": {"first": "John", "last": "Doe"},
        "q4_email": "john@email.com",
        "q5_phoneNumber": {"full": "(555) 123-4567"},
        "q6_address": {"addr_line1": "1 Main St", "city": "Dallas", "state": "Texas"},
    }
    fields = {
        "formID": "241234567890123",
        "submissionID": "5912345678901234567",
        "formTitle": "Auto quote",
        "ip": "203.0.113.9",
        "pretty": "Full Name:John Doe, E-mail:john@email.com",
        "rawRequest": json.dumps(raw),
    }
    for query in ("", "?seller=ACME1234&category=Auto%20Insurance"):
        response = world.client.post(
            "/api/leads" + query, data=fields, content_type="multipart/form-data"
        )
        assert response.status_code == 401
    assert response.json["error"] == "Invalid API Key"  # Routio's shape when seller is given
    assert Post.select().count() == 0


def test_typeforms_own_webhook_is_refused(world):
    # Typeform's webhook: JSON with form_response.answers, signed with Typeform-Signature
    # (HMAC of the body), no Authorization header.
    event = {
        "event_id": "01HQ0000000000000000000000",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "answers": [
                {"type": "text", "text": "Katy", "field": {"id": "a1", "ref": "first_name"}},
                {"type": "phone_number", "phone_number": "+15551234567", "field": {"id": "a2"}},
            ],
            "hidden": {},
        },
    }
    response = world.client.post(
        "/api/leads",
        data=json.dumps(event),
        headers={"Content-Type": "application/json", "Typeform-Signature": "sha256=abc="},
    )
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert Post.select().count() == 0
