"""GET /: where to go from here (the API's docs, its OpenAPI document, the health check)."""

from __future__ import annotations

from html import escape

from flask import Blueprint, Response, jsonify, request

blp = Blueprint("home", __name__)

LINKS = {
    "docs": ("/api/docs", "Interactive API documentation"),
    "openapi": ("/api/openapi.json", "OpenAPI document"),
    "health": ("/healthz", "Health check"),
}
GUIDE = "docs/api.md (integrators) and docs/operations.md (operators) in the Sluice repository"


@blp.get("/")
def index():
    """Answer a small index in JSON, or in HTML for a browser."""
    links = {name: path for name, (path, _) in LINKS.items()}
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        items = "".join(
            f'<li><a href="{escape(path)}">{escape(label)}</a> <code>{escape(path)}</code></li>'
            for path, label in LINKS.values()
        )
        page = (
            "<!doctype html><html><head><meta charset=utf-8><title>Sluice</title></head>"
            "<body><h1>Sluice</h1><p>Lead-routing rules engine. Sources post leads to "
            f"<code>POST /api/leads</code>.</p><ul>{items}</ul>"
            f"<p>Guides: {escape(GUIDE)}.</p></body></html>"
        )
        return Response(page, mimetype="text/html")
    return jsonify(
        {
            "service": "sluice",
            "description": "Lead-routing rules engine: sources post leads to POST /api/leads.",
            "links": links,
            "guides": GUIDE,
        }
    )
