"""What `sluice customer destination` and `sluice webhook` share: the HTTP settings' options,
reading them, and printing one destination or webhook."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from app.commands.common import emit, pairs
from app.domain.errors import InvalidError


def http_options(command: Callable) -> Callable:
    """Add the options of an HTTP destination's settings (add and update)."""
    options = [
        click.option("--name", help="A name for people."),
        click.option("--url", help="The http(s) URL posted to."),
        click.option("--method", type=click.Choice(["POST", "PUT"], case_sensitive=False)),
        click.option("--format", "body_format", type=click.Choice(["json", "form"])),
        click.option(
            "--header", "headers", multiple=True, help="'Name: value' (repeat; kept encrypted)."
        ),
        click.option(
            "--template-file",
            "--template",
            "template_file",
            type=click.File("r"),
            help="A file holding a Jinja2 body template.",
        ),
        click.option("--success-field", help="A JSON field of a 2xx answer that must equal..."),
        click.option("--success-value", help="...this value (JSON, else text)."),
        click.option("--success-pattern", help="A regular expression a 2xx answer must match."),
        click.option("--retry-schedule", help="Seconds between attempts, e.g. 5,30,120."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


overlap_option = click.option(
    "--overlap-hours",
    type=click.FloatRange(0, 720),
    default=24.0,
    show_default=True,
    help="How long the old secret still signs beside the new one.",
)


def http_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Return the settings the given HTTP options name (absent options are left out)."""
    settings: dict[str, Any] = {}
    for name in ("name", "url", "body_format", "success_field", "success_pattern"):
        if options.get(name) is not None:
            settings[name] = options[name]
    if options.get("method"):
        settings["method"] = options["method"].upper()
    if options.get("headers"):
        settings["headers"] = dict(_header(text) for text in options["headers"])
    if options.get("template_file") is not None:
        settings["template"] = options["template_file"].read()
    if options.get("success_value") is not None:
        try:
            settings["success_value"] = json.loads(options["success_value"])
        except ValueError:
            settings["success_value"] = options["success_value"]
    if options.get("retry_schedule") is not None:
        try:
            settings["retry_schedule"] = [int(s) for s in options["retry_schedule"].split(",")]
        except ValueError:
            raise InvalidError(
                "retry_schedule: whole seconds, comma-separated",
                {"retry_schedule": ["whole seconds, comma-separated"]},
            ) from None
    return settings


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon:
        raise InvalidError(
            f"--header {name!r}: 'Name: value' expected", {"headers": ["Name: value"]}
        )
    return name.strip(), value.strip()


def show_row(data: dict[str, Any], as_json: bool) -> None:
    """Print a dumped destination or webhook (secrets masked, but a secret just made)."""
    text = {
        key: ", ".join(map(str, value)) if isinstance(value, list) else value
        for key, value in data.items()
    }
    text["headers"] = ", ".join(f"{k}: {v}" for k, v in data["headers"].items())
    if data.get("signing_secret"):
        text["signing_secret"] = f"{data['signing_secret']}   (shown once)"
    emit(data, as_json, lambda: pairs(text))


def show_removed(ref: str, canceled: int, as_json: bool) -> None:
    """Print that a destination or webhook was removed, and the deliveries it canceled."""
    data = {"removed": ref, "canceled_deliveries": canceled}
    text = f"removed {ref}"
    if canceled:
        noun = "delivery" if canceled == 1 else "deliveries"
        text += f"; {canceled} {noun} not sent yet canceled"
    emit(data, as_json, text)
