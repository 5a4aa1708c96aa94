"""The admin API under /api/admin: tenant users' tokens, roles enforced per operation."""

from __future__ import annotations

from flask import request

from app.api.errors import ValidationFailed
from app.store.storable import unstorable

PREFIX = "/api/admin/"


def refuse_unstorable_arguments() -> None:
    """Refuse an admin request whose query values or path parts hold what no database
    column can (a NUL, an unpaired surrogate): 422 naming each, never a 500 from the
    driver."""
    if not request.path.startswith(PREFIX):
        return
    given = [*request.args.items(multi=True), *(request.view_args or {}).items()]
    errors = {
        name: [f"contains {problem}"]
        for name, value in given
        if isinstance(value, str) and (problem := unstorable(value))
    }
    if errors:
        raise ValidationFailed(errors)


def blueprints() -> list:
    """Return the admin blueprints, to register through the OpenAPI-aware Api."""
    from app.api.admin import (
        customers,
        deliveries,
        destinations,
        dryrun,
        leads,
        partners,
        rules,
        sources,
        users,
        webhooks,
    )

    return [
        users.blp,
        rules.blp,
        sources.blp,
        customers.blp,
        destinations.blp,
        webhooks.blp,
        partners.blp,
        leads.blp,
        deliveries.blp,
        dryrun.blp,
    ]
