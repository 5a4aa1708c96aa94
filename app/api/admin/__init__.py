"""The admin API under /api/admin: tenant users' tokens, roles enforced per operation."""

from __future__ import annotations


def blueprints() -> list:
    """Return the admin blueprints, to register through the OpenAPI-aware Api."""
    from app.api.admin import (
        customers,
        deliveries,
        destinations,
        dryrun,
        leads,
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
        leads.blp,
        deliveries.blp,
        dryrun.blp,
    ]
