"""The demo inbox (`sluice serve --demo` only): POST /demo/inbox/<customer> takes the demo's
deliveries, GET /demo/inbox shows what came."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.domain.errors import NotFoundError
from app.services import demo_inbox
from app.services.demo import demo_tenant

blp = Blueprint("demo", __name__)


@blp.post("/demo/inbox/<customer>")
def take(customer: str):
    """Take a delivery as a buyer would: verify its signature, keep it, answer 200."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    tenant = demo_tenant()
    if tenant is None:
        raise NotFoundError("the demo tenant does not exist")
    entry = demo_inbox.receive(tenant, customer, request.get_data(), headers)
    status = 200 if entry["signature_verified"] else 401
    return jsonify({"status": "accepted" if status == 200 else "bad signature"}), status


@blp.get("/demo/inbox")
def show():
    """Show the deliveries the demo inbox received, newest first."""
    return jsonify({"received": demo_inbox.received()})
