"""The `sluice` fixture of the commands' tests that work in a tenant's world."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import main


class Sluice:
    """Runs `sluice ...` in-process against the test database."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str) -> tuple[int, str]:
        """Run the command; return (exit code, output)."""
        result = self.runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    def json(self, *args: str) -> Any:
        """Run the command with --json; it must succeed; return its parsed output."""
        code, output = self(*args, "--json")
        assert code == 0, output
        return json.loads(output)


@pytest.fixture
def sluice(world, database_url, monkeypatch, secret_key) -> Sluice:
    """Return a runner of `sluice` against the world's database (secrets keyed)."""
    monkeypatch.setenv("SLUICE_DATABASE_URL", database_url)
    return Sluice()
