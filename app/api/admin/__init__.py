"""The admin API under /api/admin: tenant users' tokens, roles enforced per operation."""

from __future__ import annotations

from flask import request

from app.api.errors import ValidationFailed
from app.store.storable import unstorable

PREFIX = "/api/admin/"
#: The APIs whose query values and path parts are checked here: the admin's and the
#: customer API (app/api/customer), which takes the same kinds of arguments.
CHECKED = (PREFIX, "/api/customer/")


def refuse_unstorable_arguments() -> None:
    """Refuse an admin (or customer API) request whose query values, path parts or JSON
    body hold what no database column can (a NUL, an unpaired surrogate, NaN): 422 naming
    each (a body's top-level keys), never a 500 from the driver."""
    if not request.path.startswith(CHECKED):
        return
    given = [*request.args.items(multi=True), *(request.view_args or {}).items()]
    errors = {
        name: [f"contains {problem}"]
        for name, value in given
        if isinstance(value, str) and (problem := unstorable(value))
    }
    try:
        body = request.get_json(silent=True) if request.is_json else None
    except RecursionError:  # nested too deep: the body's parser answers it (400)
        body = None
    if isinstance(body, dict):
        for key, value in body.items():
            if problem := unstorable(key) or unstorable(value):
                errors[str(key)] = [f"contains {problem}"]
    if errors:
        raise ValidationFailed(errors)


def blueprints() -> list:
    """Return the admin blueprints, to register through the OpenAPI-aware Api."""
    from app.api.admin import (
        customers,
        deliveries,
        destinations,
        dryrun,
        imports,
        jobs,
        leads,
        marketplace,
        partners,
        pings,
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
        pings.blp,
        marketplace.blp,
        deliveries.blp,
        dryrun.blp,
        imports.blp,
        jobs.blp,
    ]
