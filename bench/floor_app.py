"""The floor of the intake benchmark: the least a JSON intake can do on Sluice's stack.

Flask under gunicorn (sync workers, as Sluice), PostgreSQL through psycopg2: parse the JSON
body, check the API key, one INSERT (autocommit) on a connection the worker keeps, answer
201 with the new id. Serve with `FLOOR_DATABASE_URL=... FLOOR_API_KEY=... gunicorn
bench.floor_app:app`; `create_table(url)` makes its table.
"""

from __future__ import annotations

import hmac
import json
import os

import psycopg2
from flask import Flask, jsonify, request

TABLE = "floor_lead"
app = Flask(__name__)
_connection = None


def create_table(url: str) -> None:
    """Create (or empty) the floor's table."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, data jsonb NOT NULL,"
            " received_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute(f"TRUNCATE {TABLE}")
    connection.close()


def _cursor():
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg2.connect(os.environ["FLOOR_DATABASE_URL"])
        _connection.autocommit = True
    return _connection.cursor()


@app.post("/leads")
def take_lead():
    """Check the key, parse the lead, insert it."""
    key = request.headers.get("X-Api-Key", "")
    if not hmac.compare_digest(key, os.environ["FLOOR_API_KEY"]):
        return jsonify({"error": "unauthorized"}), 401
    lead = request.get_json(silent=True)
    if not isinstance(lead, dict) or not lead.get("zip"):
        return jsonify({"error": "bad_request"}), 400
    with _cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (data) VALUES (%s) RETURNING id", (json.dumps(lead),))
        (lead_id,) = cursor.fetchone()
    return jsonify({"id": lead_id, "status": "accepted"}), 201
