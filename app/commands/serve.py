"""`sluice serve`: the development server (production runs `gunicorn wsgi:app`)."""

from __future__ import annotations

import json
import os
import shlex
import signal

import click

from app.commands.common import fail


def demo_text(demo: dict) -> str:
    """Return the demo credentials as the text printed at start-up."""
    lines = [
        f"Demo tenant {demo['tenant']['code']} ({demo['tenant']['slug']}), "
        f"rules version {demo['rule_version']} from {demo['rules']}, "
        f"customers: {', '.join(demo['customers'])}",
        f"API docs:    {demo['docs_url']} (OpenAPI: {demo['openapi_url']})",
        f"Admin token: {demo['admin_token']}",
        "  The admin API, e.g. the leads taken so far:",
        "  " + demo["admin_curl"],
        "Deliveries:  a worker in this process sends each sale to the demo inbox:",
        f"  curl {demo['inbox_url']}  shows what the buyers received (signatures checked);",
        "  the lead's timeline shows `delivered`.",
    ]
    for source in demo["sources"]:
        lines += [
            "",
            f"Source {source['id']} (category {source['category']})",
            f"  API key:      {source['api_key']}",
            f"  API secret:   {source['api_secret']}",
            f"  Bearer token: {source['bearer_token']}",
            "",
            "Try it (a new phone and email each start, so the lead is no duplicate):",
            source["curl"],
        ]
    if demo.get("credentials_file"):
        lines += [
            "",
            f"These credentials are kept in {demo['credentials_file']} and stay the same at",
            "the next start; `sluice serve --demo --reset` issues new ones.",
        ]
    if demo.get("secret_key_file"):
        lines += [
            "",
            f"Destinations' secrets are encrypted with the key in {demo['secret_key_file']}:",
            f"  export SLUICE_SECRET_KEY=$(cat {shlex.quote(demo['secret_key_file'])})",
            "  lets `sluice customer destination ...` read them.",
        ]
    return "\n".join(lines)


def stop_on_sigterm(signum, frame) -> None:
    """Stop the server on SIGTERM as on Ctrl-C: it closes its socket and exits 0."""
    raise KeyboardInterrupt


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--demo",
    is_flag=True,
    help="Load SLUICE_RULES_DIR (else ./rules/ if it has rule files, else the shipped "
    "examples) into a demo tenant and print its credentials.",
)
@click.option(
    "--reset", is_flag=True, help="With --demo: issue new demo credentials (the old stop working)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the demo credentials as JSON.")
def serve_command(host: str, port: int, demo: bool, reset: bool, as_json: bool) -> None:
    """Run the development server (on SQLite, the schema is upgraded first)."""
    from app import create_app
    from app.config import load_config
    from app.dsl import RulesError
    from app.store.db import database, is_postgresql
    from app.store.migrations import upgrade

    # SLUICE_RULES_DIR sets up the demo even without --demo (docs/operations.md).
    demo = demo or bool(load_config()["RULES_DIR"])
    app = create_app({"DEMO": demo})
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base_url = app.config["PUBLIC_URL"] or f"http://{shown_host}:{port}"
    rules_dir = app.config["RULES_DIR"]
    # The reloader runs this twice: set up once, in the process that serves.
    serving = os.environ.get("WERKZEUG_RUN_MAIN") != "true"
    if demo and not app.config["SECRET_KEY"]:
        # The demo keeps its own SLUICE_SECRET_KEY beside its database, as its credentials.
        from app.services.demo import demo_secret_key, secret_key_path
        from app.store.crypto import use_keys

        app.config["SECRET_KEY"] = demo_secret_key(secret_key_path())
        use_keys(app.config["SECRET_KEY"])
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            if not is_postgresql():
                upgrade()
            if demo and serving:
                from app.services.demo import credentials_path, setup_demo

                try:
                    info = setup_demo(rules_dir, base_url, credentials_path(), reset=reset)
                except RulesError as error:
                    fail("the demo rules have errors:\n" + error.report(), as_json)
                if demo and not os.environ.get("SLUICE_SECRET_KEY"):
                    from app.services.demo import secret_key_path

                    info["secret_key_file"] = str(secret_key_path())
                click.echo(json.dumps(info, indent=2) if as_json else demo_text(info))
        finally:
            database.close()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    stop_worker = _start_demo_worker(app.config) if demo and serving else None
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        if stop_worker is not None:
            stop_worker()


def _start_demo_worker(config: dict):
    """Run a delivery worker in a thread of the demo's process; return what stops it.

    The demo's sales are then delivered (to its inbox) within a moment; a deployment runs
    `sluice worker` processes instead.
    """
    import threading

    from app.commands.worker import worker_settings
    from app.services.worker import Worker

    stop = threading.Event()
    thread = threading.Thread(
        target=Worker(worker_settings(config, 4)).run, args=(stop,), name="worker", daemon=True
    )
    thread.start()

    def stop_it() -> None:
        stop.set()
        thread.join(15)

    return stop_it
