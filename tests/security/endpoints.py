"""The admin API's endpoints, read from the app itself, and snapshots of a tenant's rows.

The security tests walk every endpoint the app serves under /api/admin, so an endpoint
added later is covered without touching them; one they cannot fill in fails loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import peewee as pw

ADMIN_PREFIX = "/api/admin"
CUSTOMER_PREFIX = "/api/customer"
_PERMISSION = re.compile(r"Requires the `([a-z_.]+)` permission")
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Endpoint:
    method: str
    rule: str  # Flask's rule, e.g. /api/admin/leads/<ref>
    permission: str | None  # as the OpenAPI document declares it

    @property
    def openapi_path(self) -> str:
        return _ARGUMENT.sub(r"{\1}", self.rule)

    @property
    def arguments(self) -> list[str]:
        return _ARGUMENT.findall(self.rule)

    def url(self, values: dict[str, str]) -> str:
        """Return the rule with each argument replaced by the value for the segment before it."""

        def fill(match: re.Match) -> str:
            segment = self.rule[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            if segment not in values:
                raise LookupError(
                    f"{self.method} {self.rule}: no test value for a /{segment}/ argument; "
                    "add one to the security tests' path values"
                )
            return str(values[segment])

        return _ARGUMENT.sub(fill, self.rule)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def admin_endpoints(app) -> list[Endpoint]:
    """Return every (method, rule) the app serves under /api/admin, with its permission."""
    return api_endpoints(app, ADMIN_PREFIX)


def customer_endpoints(app) -> list[Endpoint]:
    """Return every (method, rule) the app serves under /api/customer (no permission: each
    takes a customer user's token)."""
    return api_endpoints(app, CUSTOMER_PREFIX)


def api_endpoints(app, prefix: str) -> list[Endpoint]:
    """Return every (method, rule) the app serves under a prefix, with its permission."""
    spec = app.test_client().get("/api/openapi.json").json
    endpoints = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix + "/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = _ARGUMENT.sub(r"{\1}", rule.rule)
            operation = spec["paths"].get(path, {}).get(method.lower(), {})
            found = _PERMISSION.search(operation.get("description") or "")
            endpoints.append(Endpoint(method, rule.rule, found.group(1) if found else None))
    return sorted(endpoints, key=lambda e: (e.rule, e.method))


def _tenant_query(model: type[pw.Model], tenant_id: int):
    """Return the query of the model's rows that belong to the tenant, or None."""
    from app.store.models import Tenant

    if model is Tenant:
        return model.select().where(model.id == tenant_id)
    fields = model._meta.fields
    if "tenant" in fields:
        return model.select().where(fields["tenant"] == tenant_id)
    for field in model._meta.refs:  # a parent that has a tenant: sources, leads, customers
        parent = field.rel_model
        if "tenant" in parent._meta.fields:
            return (
                model.select()
                .join(parent, on=(field == parent._meta.primary_key))
                .where(parent._meta.fields["tenant"] == tenant_id)
            )
    return None


#: Tables of the deployment, not of a tenant: they hold no tenant's data.
SHARED_TABLES = frozenset({"delivery_worker"})  # the running workers: host, pid, times


def tenant_snapshot(tenant_id: int) -> dict[str, list[tuple]]:
    """Return every row of every table that belongs to the tenant, as sorted tuples."""
    from app.store.models import MODELS

    snapshot = {}
    for model in MODELS:
        if model._meta.table_name in SHARED_TABLES:
            continue
        query = _tenant_query(model, tenant_id)
        if query is None:
            raise AssertionError(
                f"table {model._meta.table_name} has no tenant: the security tests cannot "
                "tell whose rows it holds; give it a tenant or a parent that has one"
            )
        names = list(model._meta.sorted_field_names)
        rows = query.select(*[model._meta.fields[name] for name in names]).tuples()
        snapshot[model._meta.table_name] = sorted(tuple(map(repr, row)) for row in rows)
    return snapshot


def database_snapshot() -> dict[str, list[tuple]]:
    """Return every row of every table."""
    from app.store.models import MODELS

    return {
        model._meta.table_name: sorted(tuple(map(repr, row)) for row in model.select().tuples())
        for model in MODELS
    }
