"""The `sluice` command: one click group; each feature registers its commands here."""

from __future__ import annotations

import click

from app.commands.rules_check import check_command, explain_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Sluice: lead-routing rules engine."""


main.add_command(check_command)
main.add_command(explain_command)
