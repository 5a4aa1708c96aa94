"""The OpenAPI document (/api/openapi.json) and its interactive page (/api/docs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_smorest
import swagger_ui
from flask import Blueprint, Flask, Request
from flask_smorest import Api
from webargs.flaskparser import FlaskParser

from app.api import webhook_events
from app.api.errors import BadRequest
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


def _refuse_deep_json(parser: FlaskParser) -> None:
    """Make webargs' parser answer a JSON body nested too deeply for Python's parser with a
    400 (webargs lets that RecursionError become a 500)."""
    read = parser._raw_load_json

    def raw_load_json(req: Request) -> Any:
        try:
            return read(req)
        except RecursionError:
            raise BadRequest("The JSON body is nested too deeply.") from None

    parser._raw_load_json = raw_load_json  # type: ignore[method-assign]


# The one parser every flask-smorest blueprint's `arguments` was decorated with: patched in
# place, whichever view module was imported first.
_refuse_deep_json(flask_smorest.Blueprint.ARGUMENTS_PARSER)


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
