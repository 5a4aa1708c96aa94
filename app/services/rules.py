"""A tenant's rule set versions: check, push, roll back, list, show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.domain.errors import NotFoundError
from app.dsl import Diagnostic, RuleSet
from app.services.actor import Actor
from app.store import rules as store
from app.store.models import RuleSetVersion


@dataclass(frozen=True)
class PushedRules:
    version: RuleSetVersion
    warnings: tuple[Diagnostic, ...]  # the rule set's warnings: stored anyway, shown to the pusher


def check_rules(actor: Actor, files: Mapping[str, str]) -> RuleSet:
    """Check rule files against the tenant (customers, sources) without storing them.

    Raises RulesRefused with every diagnostic; the RuleSet carries the warnings.
    """
    actor.require("rules.push")
    return store.check_rules(actor.acting_tenant(), files)


def push_rules(actor: Actor, files: Mapping[str, str]) -> PushedRules:
    """Check rule files, store them as a new version and activate it (refused on errors)."""
    actor.require("rules.push")
    version, ruleset = store.push_rules(actor.acting_tenant(), files, by=actor.name)
    return PushedRules(version, tuple(ruleset.warnings))


def rollback_rules(actor: Actor, to: int | None = None) -> RuleSetVersion:
    """Activate an earlier version (default: the one before the active one)."""
    actor.require("rules.rollback")
    return store.rollback_rules(actor.acting_tenant(), by=actor.name, to=to)


def list_versions(actor: Actor) -> list[RuleSetVersion]:
    """Return the tenant's rule set versions, newest first."""
    actor.require("rules.read")
    return store.list_versions(actor.acting_tenant())


def show_version(actor: Actor, number: int) -> RuleSetVersion:
    """Return one rule set version with its files."""
    actor.require("rules.read")
    for version in store.list_versions(actor.acting_tenant()):
        if version.number == number:
            return version
    raise NotFoundError(f"no rule set version {number}")
