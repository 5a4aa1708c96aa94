"""`sluice examples`: where the shipped example rule sets are, or a copy of them to edit."""

from __future__ import annotations

import click

from app.commands.common import fail
from app.services.examples import copy_examples, examples_path


@click.group("examples")
def examples_group() -> None:
    """The example rule sets shipped with Sluice (and a lead to explain)."""


@examples_group.command("path")
def examples_path_command() -> None:
    """Print the directory of the shipped examples: `sluice check "$(sluice examples path)"`."""
    click.echo(str(examples_path()))


@examples_group.command("copy")
@click.argument("directory", type=click.Path(file_okay=False))
def examples_copy_command(directory: str) -> None:
    """Copy the shipped examples into DIRECTORY, to edit them; nothing is overwritten."""
    try:
        written = copy_examples(directory)
    except FileExistsError as error:
        fail(f"{error.args[0]} exists already: nothing was copied", False)
    except OSError as error:
        fail(f"cannot copy into {directory}: {error.strerror or error}", False)
    for path in written:
        click.echo(str(path))
