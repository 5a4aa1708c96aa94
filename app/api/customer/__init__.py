"""The customer API under /api/customer: a customer's own users' tokens, that customer alone.

Every view is `@customer_access` (app/api/auth.py: a customer user's token, `g.actor`
acting for its customer) over one service function taking that actor; adding an
endpoint is a route on one of these blueprints (or a new module listed below) with
`@customer_access`, its schemas, and a call such as `returns.return_lead(g.actor, ref, ...)`.
"""

from __future__ import annotations

PREFIX = "/api/customer/"


def blueprints() -> list:
    """Return the customer API's blueprints, to register through the OpenAPI-aware Api."""
    from app.api.customer import account, deliveries, leads

    return [account.blp, leads.blp, deliveries.blp]
