"""The Routio API style's names: its field names, required fields and campaigns.

The Routio-style intake (app/api/routio.py) reads requests with them and the source spec
(app/services/spec.py) documents them: one definition for both.
"""

from __future__ import annotations

from app.dsl import RuleSet
from app.store.models import Source
from app.store.sources import ANY_CATEGORY

#: Required by Routio's documentation in every category that has the field; the category's
#: required(post) fields are required too, zip only when the rules say so.
ROUTIO_REQUIRED = frozenset({"first_name", "last_name", "phone", "state"})


def routio_name(name: str) -> str:
    """Return a field's Routio (camelCase) name: first_name -> firstName, address_1 -> address1."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def campaigns(ruleset: RuleSet | None, source: Source) -> list[str]:
    """Return the categories the source may post to now: those with an active plan."""
    if ruleset is None:
        return []
    names = [name for name in ruleset.categories if name in ruleset.plans]
    if source.category != ANY_CATEGORY:
        names = [name for name in names if name == source.category]
    return names
