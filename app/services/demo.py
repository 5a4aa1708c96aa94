"""The demo tenant `sluice serve --demo` sets up: rules, customers, a source per category.

Secrets are stored hashed, so the demo keeps the plaintext credentials it printed in a file
beside its database (mode 0600): the next run prints the same ones while they still
authenticate, and issues new ones (revoking the old) only for those that do not, or when
asked to reset.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from pathlib import Path
from typing import Any

from app.services.demo_inbox import ensure_inbox_destination
from app.services.examples import examples_path
from app.services.spec import curl_command, example_payload, intake_url
from app.store.crypto import new_key, parse_keys
from app.store.customers import create_customer, customer_slugs, find_customer
from app.store.db import database_file
from app.store.models import Source, Tenant, User
from app.store.rules import push_rules
from app.store.sources import (
    authenticate_basic,
    authenticate_bearer,
    create_source,
    create_token,
    rotate_secret,
)
from app.store.tenants import authenticate_user, create_tenant, rotate_user_token

DEMO_CODE = "DEMO0001"
DEMO_BALANCE_CENTS = 100_000  # 1,000.00 in each demo customer's wallet
#: The rules a deployment keeps (rules/README.md); the demo loads them when they exist.
DEPLOYMENT_RULES_DIR = Path("rules")
CREDENTIALS_FILE = "demo-credentials.json"
#: The demo's SLUICE_SECRET_KEY, kept apart from the credentials: a reset issues new
#: credentials but must keep the key that the stored destinations' secrets need.
SECRET_KEY_FILE = "demo-secret-key"


def demo_rules_path(rules_dir: str | None) -> Path:
    """Return the rules the demo loads: SLUICE_RULES_DIR, else ./rules/ if it has rule files,
    else the shipped examples."""
    if rules_dir:
        return Path(rules_dir)
    if DEPLOYMENT_RULES_DIR.is_dir() and any(DEPLOYMENT_RULES_DIR.rglob("*.rules")):
        return DEPLOYMENT_RULES_DIR
    return examples_path()


def credentials_path() -> Path:
    """Return the file keeping the demo's credentials: beside the SQLite database, else in
    ./instance/."""
    found = database_file()
    folder = Path(found).parent if found is not None else Path("instance")
    return folder / CREDENTIALS_FILE


def secret_key_path() -> Path:
    """Return the file keeping the demo's secret key, beside its credentials."""
    return credentials_path().parent / SECRET_KEY_FILE


def demo_secret_key(path: Path) -> str:
    """Return the key the file keeps, or a new one written to it (owner-only) when it has none."""
    try:
        key = path.read_text(encoding="utf-8").strip()
        parse_keys(key)
        return key
    except (OSError, ValueError):
        pass
    key = new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(key + "\n")
    return key


def load_credentials(path: Path) -> dict[str, Any]:
    """Return the credentials a previous demo run saved, or {} (missing or unreadable)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def save_credentials(path: Path, credentials: dict[str, Any]) -> None:
    """Write the demo's credentials, readable by their owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # an older file may have had wider rights
        json.dump(credentials, file, indent=2)


def fresh_contact(payload: dict[str, Any], field_types: dict[str, str]) -> dict[str, Any]:
    """Return the payload with a new phone and email, so the lead is no one's duplicate."""
    fresh = dict(payload)
    for name, type_name in field_types.items():
        if type_name == "phone":
            fresh[name] = f"555-{secrets.randbelow(900) + 100}-{secrets.randbelow(10_000):04d}"
        elif type_name == "email":
            fresh[name] = f"demo.{secrets.token_hex(4)}@example.com"
    return fresh


def setup_demo(
    rules_dir: str | None,
    base_url: str,
    credentials_file: Path | None = None,
    reset: bool = False,
) -> dict[str, Any]:
    """Create (or refresh) the demo tenant; return its credentials and cURL commands.

    With a credentials file, the credentials it holds are kept while they authenticate
    (reset: never), and the ones printed are written back to it.
    """
    from app.dsl import compile_rules, read_rule_files

    rules = demo_rules_path(rules_dir)
    files = read_rule_files(rules)
    ruleset = compile_rules(files)  # raises RulesError, reported by the caller
    saved = {} if reset or credentials_file is None else load_credentials(credentials_file)
    listed = saved.get("sources")
    saved_sources: dict[str, Any] = listed if isinstance(listed, dict) else {}
    tenant, token = _demo_tenant(saved.get("admin_token"))
    existing = customer_slugs(tenant)
    for slug in sorted(ruleset.customers() - existing):
        create_customer(tenant, slug, slug.replace("_", " ").title(), DEMO_BALANCE_CENTS)
    for slug in sorted(customer_slugs(tenant)):
        ensure_inbox_destination(find_customer(tenant, slug), base_url)
    sources = [_demo_source(tenant, category, saved_sources) for category in ruleset.categories]
    version, ruleset = push_rules(tenant, files, by="demo")
    credentials = {
        "tenant": tenant.code,
        "admin_token": token,
        "sources": {
            source.public_id: {"api_secret": secret, "bearer_token": bearer}
            for source, secret, bearer in sources
        },
    }
    if credentials_file is not None:
        save_credentials(credentials_file, credentials)
    base = base_url.rstrip("/")
    admin_header = shlex.quote(f"Authorization: Bearer {token}")
    leads_url = shlex.quote(f"{base}/api/admin/leads")
    return {
        "tenant": {"code": tenant.code, "slug": tenant.slug},
        "admin_token": token,
        "rules": str(rules),
        "rule_version": version.number,
        "customers": sorted(ruleset.customers()),
        "credentials_file": str(credentials_file) if credentials_file is not None else None,
        "docs_url": f"{base}/api/docs",
        "openapi_url": f"{base}/api/openapi.json",
        "admin_curl": f"curl -H {admin_header} {leads_url}",
        "inbox_url": f"{base}/demo/inbox",
        "sources": [
            {
                "id": source.public_id,
                "category": source.category,
                "api_key": source.api_key,
                "api_secret": secret,
                "bearer_token": bearer,
                "curl": curl_command(
                    intake_url(base_url),
                    fresh_contact(
                        example_payload(ruleset, source.category),
                        {f.name: f.type for f in ruleset.categories[source.category].fields},
                    ),
                    source.api_key,
                    secret,
                ),
            }
            for source, secret, bearer in sources
        ],
    }


def demo_tenant() -> Tenant | None:
    """Return the demo tenant, if it exists."""
    tenant: Tenant | None = Tenant.select().where(Tenant.code == DEMO_CODE).first()
    return tenant


def _demo_tenant(saved_token: Any) -> tuple[Tenant, str]:
    """Return the demo tenant (made if missing) and its admin's token: the saved one if it
    still works, else a new one."""
    tenant = Tenant.select().where(Tenant.code == DEMO_CODE).first()
    if tenant is None:
        tenant, _, token = create_tenant("Demo", DEMO_CODE, "admin@demo.example")
        return tenant, token
    admin = User.select().where((User.tenant == tenant) & (User.role == "admin")).first()
    if _opens_user(saved_token, admin):
        return tenant, saved_token
    return tenant, rotate_user_token(admin)


def _demo_source(tenant: Tenant, category: str, saved: dict[str, Any]) -> tuple[Source, str, str]:
    """Return the category's demo source (made if missing), its API secret and a bearer
    token: the saved ones while they still work, else new ones."""
    name = f"Demo {category} source"
    source = Source.select().where((Source.tenant == tenant) & (Source.name == name)).first()
    kept = saved.get(source.public_id) if source is not None else None
    kept = kept if isinstance(kept, dict) else {}
    if source is None:
        source, secret = create_source(tenant, name, category)
    else:
        saved_secret = kept.get("api_secret")
        if isinstance(saved_secret, str) and _secret_opens(source, saved_secret):
            secret = saved_secret
        else:
            secret = rotate_secret(source)
    saved_bearer = kept.get("bearer_token")
    if isinstance(saved_bearer, str) and _bearer_opens(source, saved_bearer):
        bearer = saved_bearer
    else:
        _, bearer = create_token(source)
    return source, secret, bearer


def _opens_user(token: Any, admin: User) -> bool:
    """Tell whether a saved admin token still authenticates the demo's admin."""
    user = authenticate_user(token) if isinstance(token, str) and token else None
    return user is not None and user.id == admin.id


def _secret_opens(source: Source, secret: Any) -> bool:
    """Tell whether a saved API secret still authenticates the demo's source."""
    found = authenticate_basic(source.api_key, secret) if isinstance(secret, str) else None
    return found is not None and found.id == source.id


def _bearer_opens(source: Source, token: Any) -> bool:
    """Tell whether a saved bearer token still authenticates the demo's source."""
    found = authenticate_bearer(token) if isinstance(token, str) and token else None
    return found is not None and found.id == source.id
