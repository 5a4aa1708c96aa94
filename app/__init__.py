"""Sluice: a lead-routing rules engine behind an intake API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing app.dsl must not import the web stack
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app: config, then database, then errors, then blueprints."""
    from flask import Flask

    from app.api import errors, health, home, logs, openapi
    from app.api.admin import blueprints as admin_blueprints
    from app.api.admin import refuse_unstorable_arguments
    from app.api.auctions import blp as auctions_blp
    from app.api.customer import blueprints as customer_blueprints
    from app.api.intake import blp as intake_blp
    from app.api.pings import blp as pings_blp
    from app.config import load_config
    from app.store import crypto, db

    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config(config))
    crypto.use_keys(app.config["SECRET_KEY"])  # ValueError: a malformed key, named
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.sort_keys = False

    db.init_app(app)
    errors.register_error_handlers(app)
    logs.init_app(app)

    app.register_blueprint(home.blp)
    app.register_blueprint(health.blp)
    api = openapi.init_app(app)
    api.register_blueprint(intake_blp)
    api.register_blueprint(auctions_blp)
    api.register_blueprint(pings_blp)
    for blueprint in admin_blueprints():
        api.register_blueprint(blueprint)
    for blueprint in customer_blueprints():
        api.register_blueprint(blueprint)
    app.before_request(refuse_unstorable_arguments)
    if app.config.get("DEMO"):
        from app.api import demo

        app.register_blueprint(demo.blp)
    return app
