"""Every service refuses an actor whose role lacks its permission, before touching anything."""

from __future__ import annotations

import inspect

import pytest

from app.domain.errors import ForbiddenError, InvalidError
from app.services import (
    analysis,
    customer_portal,
    customers,
    deletion,
    deliveries,
    destinations,
    exports,
    leads,
    marketplace,
    partners,
    posts,
    reprocess,
    returns,
    review,
    rules,
    sources,
    tenants,
    webhooks,
)
from app.services.actor import OPERATOR_ONLY, operator_actor, user_actor
from app.services.deliveries import DeliveryFilter
from app.services.leads import LeadFilter
from app.store.tenants import PERMISSIONS, ROLES, create_user
from tests.security.endpoints import database_snapshot

SERVICE_MODULES = (
    analysis,
    customer_portal,
    customers,
    deletion,
    deliveries,
    destinations,
    exports,
    leads,
    marketplace,
    partners,
    posts,
    reprocess,
    returns,
    review,
    rules,
    sources,
    tenants,
    webhooks,
)
RULES = {"x.rules": 'category x "X" { field zip zip required(post) }\nplan x { stage marketplace }'}
NO_FILTER = LeadFilter(test=None)

# (service, permission, call): the arguments need not name anything real, as the
# permission is checked before any look-up.
DESTINATION = {"name": "CRM", "kind": "http", "url": "https://crm.example/leads"}
DST = "dst_00000000000000000000000000"
WEBHOOK = {"url": "https://hooks.example/sluice", "events": ["lead.sold"]}
WHK = "whk_00000000000000000000000000"
MSG = "msg_00000000000000000000000000"
LEAD = "lead_00000000000000000000000000"
PARTNER = {"name": "leadco", "post_url": "https://leadco.example/post"}
PRT = "prt_00000000000000000000000000"
CALLS = [
    (
        customers.add_customer_user,
        "users.write",
        lambda a: customers.add_customer_user(a, "sunco", "buyer@sunco.example"),
    ),
    (
        customers.list_customer_users,
        "users.write",
        lambda a: customers.list_customer_users(a, "sunco"),
    ),
    (
        customers.remove_customer_user,
        "users.write",
        lambda a: customers.remove_customer_user(a, "sunco", "buyer@sunco.example"),
    ),
    # The customer API's services: no tenant role holds customer.read (a customer's own).
    (customer_portal.own_customer, "customer.read", customer_portal.own_customer),
    (customer_portal.show_customer, "customer.read", customer_portal.show_customer),
    (
        customer_portal.list_leads,
        "customer.read",
        lambda a: customer_portal.list_leads(a, NO_FILTER),
    ),
    (
        customer_portal.show_lead,
        "customer.read",
        lambda a: customer_portal.show_lead(a, "lead_00000000000000000000000000"),
    ),
    (
        customer_portal.export_leads,
        "customer.read",
        lambda a: customer_portal.export_leads(a, NO_FILTER),
    ),
    (customer_portal.show_wallet, "customer.read", customer_portal.show_wallet),
    (
        customer_portal.buyer_views,
        "customer.read",
        lambda a: customer_portal.buyer_views(a, []),
    ),
    (
        customer_portal.list_own_deliveries,
        "customer.read",
        lambda a: customer_portal.list_own_deliveries(a, DeliveryFilter()),
    ),
    (
        customer_portal.count_own_deliveries,
        "customer.read",
        lambda a: customer_portal.count_own_deliveries(a, DeliveryFilter()),
    ),
    (
        customer_portal.show_own_delivery,
        "customer.read",
        lambda a: customer_portal.show_own_delivery(a, MSG),
    ),
    (
        customer_portal.return_own_lead,
        "customer.read",
        lambda a: customer_portal.return_own_lead(a, LEAD, reason="Other", note=None),
    ),
    (customer_portal.own_return_reasons, "customer.read", customer_portal.own_return_reasons),
    (customer_portal.list_offers, "customer.read", customer_portal.list_offers),
    (
        customer_portal.claim_offer,
        "customer.read",
        lambda a: customer_portal.claim_offer(a, LEAD),
    ),
    (webhooks.list_webhooks, "webhooks.read", lambda a: webhooks.list_webhooks(a)),
    (webhooks.show_webhook, "webhooks.read", lambda a: webhooks.show_webhook(a, WHK)),
    (webhooks.add_webhook, "webhooks.write", lambda a: webhooks.add_webhook(a, WEBHOOK)),
    (
        webhooks.update_webhook,
        "webhooks.write",
        lambda a: webhooks.update_webhook(a, WHK, {"name": "x"}),
    ),
    (webhooks.remove_webhook, "webhooks.write", lambda a: webhooks.remove_webhook(a, WHK)),
    (webhooks.rotate_secret, "webhooks.write", lambda a: webhooks.rotate_secret(a, WHK)),
    (
        destinations.list_destinations,
        "customers.read",
        lambda a: destinations.list_destinations(a, "sunco"),
    ),
    (
        destinations.show_destination,
        "customers.read",
        lambda a: destinations.show_destination(a, "sunco", DST),
    ),
    (
        destinations.add_destination,
        "customers.write",
        lambda a: destinations.add_destination(a, "sunco", DESTINATION),
    ),
    (
        destinations.update_destination,
        "customers.write",
        lambda a: destinations.update_destination(a, "sunco", DST, {"name": "x"}),
    ),
    (
        destinations.remove_destination,
        "customers.write",
        lambda a: destinations.remove_destination(a, "sunco", DST),
    ),
    (
        destinations.rotate_secret,
        "customers.write",
        lambda a: destinations.rotate_secret(a, "sunco", DST),
    ),
    (tenants.create_tenant, "tenants.write", lambda a: tenants.create_tenant(a, "Other")),
    (tenants.list_tenants, "tenants.read", lambda a: tenants.list_tenants(a)),
    (tenants.create_user, "users.write", lambda a: tenants.create_user(a, "x@y.example", "viewer")),
    (tenants.list_users, "users.write", lambda a: tenants.list_users(a)),
    (tenants.describe_actor, "leads.read", lambda a: tenants.describe_actor(a)),
    (customers.list_customers, "customers.read", lambda a: customers.list_customers(a)),
    (customers.show_customer, "customers.read", lambda a: customers.show_customer(a, "sunco")),
    (
        customers.create_customer,
        "customers.write",
        lambda a: customers.create_customer(a, "newco", "New Co", 100),
    ),
    (customers.deposit, "wallets.deposit", lambda a: customers.deposit(a, "sunco", 100)),
    (
        customers.set_customer_active,
        "customers.write",
        lambda a: customers.set_customer_active(a, "sunco", False),
    ),
    (
        customers.update_customer,
        "customers.write",
        lambda a: customers.update_customer(a, "sunco", {"claims_per_day": 3}),
    ),
    (marketplace.list_marketplace, "leads.read", lambda a: marketplace.list_marketplace(a)),
    (
        marketplace.claim_lead,
        "leads.claim",
        lambda a: marketplace.claim_lead(a, "lead_x", customer_ref="sunco"),
    ),
    (sources.list_sources, "sources.read", lambda a: sources.list_sources(a)),
    (sources.show_source, "sources.read", lambda a: sources.show_source(a, "src_x")),
    (
        sources.create_source,
        "sources.write",
        lambda a: sources.create_source(a, "Web", "solar"),
    ),
    (
        sources.update_source,
        "sources.write",
        lambda a: sources.update_source(a, "src_x", active=False),
    ),
    (sources.create_token, "sources.write", lambda a: sources.create_token(a, "src_x")),
    (sources.list_tokens, "sources.read", lambda a: sources.list_tokens(a, "src_x")),
    (
        sources.revoke_token,
        "sources.write",
        lambda a: sources.revoke_token(a, "src_x", "tok_0000000000000000"),
    ),
    (sources.rotate_secret, "sources.write", lambda a: sources.rotate_secret(a, "src_x")),
    (
        sources.show_source_spec,
        "sources.read",
        lambda a: sources.show_source_spec(a, "src_x", "http://sluice.test", 60),
    ),
    (rules.check_rules, "rules.push", lambda a: rules.check_rules(a, RULES)),
    (rules.push_rules, "rules.push", lambda a: rules.push_rules(a, RULES)),
    (rules.rollback_rules, "rules.rollback", lambda a: rules.rollback_rules(a)),
    (rules.list_versions, "rules.read", lambda a: rules.list_versions(a)),
    (rules.show_version, "rules.read", lambda a: rules.show_version(a, 1)),
    (leads.list_leads, "leads.read", lambda a: leads.list_leads(a, NO_FILTER)),
    (leads.show_lead, "leads.read", lambda a: leads.show_lead(a, "lead_x")),
    (leads.explain_lead, "leads.explain", lambda a: leads.explain_lead(a, "lead_x")),
    (
        leads.find_leads_by_rule,
        "leads.explain",
        lambda a: leads.find_leads_by_rule(a, 'state == "FL"', NO_FILTER),
    ),
    (
        leads.count_leads_by_rule,
        "leads.explain",
        lambda a: leads.count_leads_by_rule(a, 'state == "FL"', NO_FILTER),
    ),
    (leads.rule_sql, "leads.explain", lambda a: leads.rule_sql(a, 'state == "FL"')),
    (
        leads.reprocess_lead,
        "leads.reprocess",
        lambda a: leads.reprocess_lead(a, "lead_x", test_price_cents=4500),
    ),
    (
        reprocess.reprocess_lead,
        "leads.reprocess",
        lambda a: reprocess.reprocess_lead(a, "lead_x", start="marketplace", test_price_cents=1),
    ),
    (
        reprocess.plan_reprocess,
        "leads.reprocess",
        lambda a: reprocess.plan_reprocess(a, ["lead_x"]),
    ),
    (
        reprocess.start_reprocess,
        "leads.reprocess",
        lambda a: reprocess.start_reprocess(a, None, NO_FILTER, test_price_cents=1),
    ),
    (reprocess.list_jobs, "leads.reprocess", lambda a: reprocess.list_jobs(a)),
    (reprocess.show_job, "leads.reprocess", lambda a: reprocess.show_job(a, "job_x")),
    (exports.export_leads, "leads.export", lambda a: exports.export_leads(a, NO_FILTER)),
    (
        review.approve_lead,
        "leads.review",
        lambda a: review.approve_lead(a, "lead_x"),
    ),
    (review.reject_lead, "leads.review", lambda a: review.reject_lead(a, "lead_x", note="x")),
    (
        review.review_leads,
        "leads.review",
        lambda a: review.review_leads(a, "approved", ["lead_x"]),
    ),
    (
        customers.update_customer,
        "customers.write",
        lambda a: customers.update_customer(a, "sunco", {"return_window_days": 3}),
    ),
    (returns.return_reasons, "customers.read", lambda a: returns.return_reasons(a)),
    (
        returns.set_return_reasons,
        "customers.write",
        lambda a: returns.set_return_reasons(a, ["Bad"]),
    ),
    (
        returns.return_lead,
        "leads.return",
        lambda a: returns.return_lead(a, "lead_x", reason="Other"),
    ),
    (
        returns.return_leads,
        "leads.return",
        lambda a: returns.return_leads(a, ["lead_x"], reason="Other"),
    ),
    (deletion.delete_lead, "leads.delete", lambda a: deletion.delete_lead(a, "lead_x")),
    (deletion.delete_leads, "leads.delete", lambda a: deletion.delete_leads(a, ["lead_x"])),
    (posts.list_posts, "posts.read", lambda a: posts.list_posts(a)),
    (posts.show_post, "posts.read", lambda a: posts.show_post(a, "post_x")),
    (analysis.dry_run, "leads.explain", lambda a: analysis.dry_run(a, RULES, NO_FILTER)),
    (
        deliveries.list_deliveries,
        "deliveries.read",
        lambda a: deliveries.list_deliveries(a, DeliveryFilter()),
    ),
    (
        deliveries.count_deliveries,
        "deliveries.read",
        lambda a: deliveries.count_deliveries(a, DeliveryFilter()),
    ),
    (deliveries.show_delivery, "deliveries.read", lambda a: deliveries.show_delivery(a, MSG)),
    (
        deliveries.retry_deliveries,
        "deliveries.retry",
        lambda a: deliveries.retry_deliveries(a, [MSG]),
    ),
    (partners.list_partners, "partners.read", lambda a: partners.list_partners(a)),
    (partners.show_partner, "partners.read", lambda a: partners.show_partner(a, PRT)),
    (partners.add_partner, "partners.write", lambda a: partners.add_partner(a, PARTNER)),
    (
        partners.update_partner,
        "partners.write",
        lambda a: partners.update_partner(a, PRT, {"timeout_ms": 100}),
    ),
    (partners.remove_partner, "partners.write", lambda a: partners.remove_partner(a, PRT)),
]


def test_every_service_taking_an_actor_is_checked_here():
    checked = {service for service, _, _ in CALLS}
    services = {
        function
        for module in SERVICE_MODULES
        for _, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__
        and not function.__name__.startswith("_")
        and next(iter(inspect.signature(function).parameters), None) == "actor"
    }
    missing = sorted(f"{f.__module__}.{f.__name__}" for f in services - checked)
    assert missing == [], "services without a permission test"


@pytest.fixture
def actors(world, db):
    """An actor of each role in the world's tenant."""
    result = {}
    for role in ROLES:
        user, _ = create_user(world.tenant, f"{role}@acme.example", role)
        result[role] = user_actor(user)
    return result


@pytest.mark.parametrize(
    ("service", "permission", "call"), CALLS, ids=[service.__name__ for service, _, _ in CALLS]
)
def test_a_role_without_the_permission_is_refused_and_nothing_changes(
    actors, service, permission, call
):
    refused = [role for role in ROLES if permission not in PERMISSIONS[role]]
    before = database_snapshot()
    for role in refused:
        with pytest.raises(ForbiddenError) as caught:
            call(actors[role])
        assert permission in caught.value.message, role
    assert database_snapshot() == before
    for role in set(ROLES) - set(refused):
        try:
            call(actors[role])
        except ForbiddenError:  # pragma: no cover (the failure)
            pytest.fail(f"{role} holds {permission} but {service.__name__} refused it")
        except Exception:  # noqa: BLE001 (a made-up reference may not be found)
            pass


def test_finding_leads_by_rule_in_a_list_needs_the_explain_permission(actors):
    with pytest.raises(ForbiddenError, match="leads.explain"):
        leads.list_leads(actors["viewer"], NO_FILTER, where='state == "FL"')
    assert leads.list_leads(actors["viewer"], NO_FILTER) == []


def test_only_the_operator_manages_tenants(actors, db):
    assert all(not actor.can(p) for actor in actors.values() for p in OPERATOR_ONLY)
    operator = operator_actor()
    created = tenants.create_tenant(operator, "Other Leads")
    assert created.admin.user.role == "admin" and created.admin.token.startswith("sut_")
    assert [t.slug for t in tenants.list_tenants(operator)] == ["acme", "other-leads"]


def test_the_operator_names_a_tenant_for_a_tenants_action(world, db):
    with pytest.raises(InvalidError, match="needs a tenant"):
        customers.list_customers(operator_actor())
    listed = customers.list_customers(operator_actor(world.tenant.code))
    assert [c.slug for c in listed] == ["bargain", "brightside", "sunco"]
