"""GET /healthz: the service is up and its database answers."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify

from app.store.db import database

log = logging.getLogger("sluice.health")
blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """Answer 200 when the database answers a query, 503 otherwise."""
    try:
        database.execute_sql("SELECT 1").fetchone()
    except Exception as error:  # any failure to reach the database is "unhealthy"
        log.warning("health check failed", extra={"error": str(error)})
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
