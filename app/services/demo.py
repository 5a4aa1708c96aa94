"""The demo tenant `sluice serve --demo` sets up: rules, customers, a source per category."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.services.spec import source_spec
from app.store.customers import create_customer, customer_slugs
from app.store.models import Source, Tenant, User
from app.store.rules import push_rules
from app.store.sources import create_source, create_token, rotate_secret
from app.store.tenants import create_tenant, rotate_user_token

DEMO_CODE = "DEMO0001"
DEMO_BALANCE_CENTS = 100_000  # 1,000.00 in each demo customer's wallet
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def setup_demo(rules_dir: str | None, base_url: str) -> dict[str, Any]:
    """Create (or refresh) the demo tenant; return its fresh credentials and cURL commands.

    Secrets are stored hashed, so each run issues new ones: the printed ones always work.
    """
    from app.dsl import compile_rules, read_rule_files

    files = read_rule_files(rules_dir or str(EXAMPLES))
    ruleset = compile_rules(files)  # raises RulesError, reported by the caller
    tenant = Tenant.select().where(Tenant.code == DEMO_CODE).first()
    if tenant is None:
        tenant, admin, token = create_tenant("Demo", DEMO_CODE, "admin@demo.example")
    else:
        admin = User.select().where((User.tenant == tenant) & (User.role == "admin")).first()
        token = rotate_user_token(admin)
    existing = customer_slugs(tenant)
    for slug in sorted(ruleset.customers() - existing):
        create_customer(tenant, slug, slug.replace("_", " ").title(), DEMO_BALANCE_CENTS)
    sources = []
    for category in ruleset.categories:
        name = f"Demo {category} source"
        source = Source.select().where((Source.tenant == tenant) & (Source.name == name)).first()
        if source is None:
            source, secret = create_source(tenant, name, category)
        else:
            secret = rotate_secret(source)
        _, bearer = create_token(source)
        sources.append((source, secret, bearer))
    version, ruleset = push_rules(tenant, files, by="demo")
    return {
        "tenant": {"code": tenant.code, "slug": tenant.slug},
        "admin_token": token,
        "rule_version": version.number,
        "customers": sorted(ruleset.customers()),
        "sources": [
            {
                "id": source.public_id,
                "category": source.category,
                "api_key": source.api_key,
                "api_secret": secret,
                "bearer_token": bearer,
                "curl": source_spec(source, ruleset, base_url, secret)["example_request"],
            }
            for source, secret, bearer in sources
        ],
    }
