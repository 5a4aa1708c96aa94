"""`sluice serve`: the development server (production runs `gunicorn wsgi:app`)."""

from __future__ import annotations

import json
import os

import click

from app.commands.common import fail


def demo_text(demo: dict) -> str:
    """Return the demo credentials as the text printed at start-up."""
    lines = [
        f"Demo tenant {demo['tenant']['code']} ({demo['tenant']['slug']}), "
        f"rules version {demo['rule_version']}, customers: {', '.join(demo['customers'])}",
        f"Admin token: {demo['admin_token']}",
    ]
    for source in demo["sources"]:
        lines += [
            "",
            f"Source {source['id']} (category {source['category']})",
            f"  API key:      {source['api_key']}",
            f"  API secret:   {source['api_secret']}",
            f"  Bearer token: {source['bearer_token']}",
            "",
            "Try it:",
            source["curl"],
        ]
    return "\n".join(lines)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--demo", is_flag=True, help="Load SLUICE_RULES_DIR (or examples/) into a demo tenant."
)
@click.option("--json", "as_json", is_flag=True, help="Print the demo credentials as JSON.")
def serve_command(host: str, port: int, demo: bool, as_json: bool) -> None:
    """Run the development server (on SQLite, the schema is upgraded first)."""
    from app import create_app
    from app.dsl import RulesError
    from app.store.db import database, is_postgresql
    from app.store.migrations import upgrade

    app = create_app({"PUBLIC_URL": f"http://{host}:{port}"})
    rules_dir = app.config["RULES_DIR"]
    # The reloader runs this twice: set up once, in the process that serves.
    serving = os.environ.get("WERKZEUG_RUN_MAIN") != "true"
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            if not is_postgresql():
                upgrade()
            if (demo or rules_dir) and serving:
                from app.services.demo import setup_demo

                try:
                    info = setup_demo(rules_dir, app.config["PUBLIC_URL"])
                except RulesError as error:
                    fail("the demo rules have errors:\n" + error.report(), as_json)
                click.echo(json.dumps(info, indent=2) if as_json else demo_text(info))
        finally:
            database.close()
    app.run(host=host, port=port, debug=False, use_reloader=False)
