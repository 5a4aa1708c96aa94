"""The OpenAPI document (/api/openapi.json) and its interactive page (/api/docs)."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Flask
from flask_smorest import Api

from app.api import webhook_events
from app.api.schemas import ErrorSchema

SETTINGS = {
    "API_TITLE": "Sluice",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.1.0",  # 3.1: the webhooks section (app/api/webhook_events.py)
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Served from the swagger-ui-py package: the page works without the internet.
    "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
}
SECURITY_SCHEMES = {
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "A source's API key (user name) and API secret (password).",
    },
    "sourceBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A source's bearer token (`sluice source token`).",
    },
    "userBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant user's token, for /api/admin.",
    },
    "customerBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A customer user's token (sct_...), for /api/customer.",
    },
}


class SluiceApi(Api):
    """flask-smorest's Api, leaving errors to app/api/errors.py (one JSON shape)."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


def init_app(app: Flask) -> SluiceApi:
    """Create the Api that documents the blueprints registered through it."""
    for key, value in SETTINGS.items():
        app.config.setdefault(key, value)
    assets = Blueprint(
        "swagger_ui_assets",
        __name__,
        static_folder=Path(swagger_ui.__file__).parent / "static",
        static_url_path="/api/docs/assets",
    )
    app.register_blueprint(assets)
    api = SluiceApi(app)
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    webhook_events.document(api.spec)
    return api
