"""The customer API under /api/customer: a customer's own users' tokens, that customer alone.

Every view is `@customer_access` (app/api/auth.py: a customer user's token, `g.actor`
acting for its customer) over one service function taking that actor. Adding an endpoint
is a route on one of these blueprints (or a new module listed in `blueprints`), e.g.:

    @blp.route("/leads/<ref>/return", methods=["POST"])
    @customer_access
    @blp.arguments(ReturnRequestSchema)
    @blp.response(200, CustomerLeadSchema)
    def return_lead(args, ref: str):
        return customer_portal.return_own_lead(g.actor, ref, reason=..., note=...)

A lead answered to a customer is rendered with CustomerLeadSchema from a CustomerLead
(deliverable fields only): a service answering Lead rows gets them from
`customer_portal.buyer_views(actor, leads)`. Path arguments and query values are checked
for what no column can store (app/api/admin.refuse_unstorable_arguments), and the security
tests walk every route here (tests/security/test_customer_isolation.py).
"""

from __future__ import annotations


def blueprints() -> list:
    """Return the customer API's blueprints, to register through the OpenAPI-aware Api."""
    from app.api.customer import account, deliveries, leads, marketplace

    return [account.blp, leads.blp, marketplace.blp, deliveries.blp]
