"""Who performs an action: a tenant's user (admin API) or the operator (the `sluice` command).

Every service takes an `Actor` and checks, first thing, that its role grants the action's
permission: the services are the one place a refusal comes from, whichever adapter called.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from app.domain.errors import ForbiddenError, InvalidError
from app.store.models import Customer, Tenant, User
from app.store.tenants import CUSTOMER_PERMISSIONS, CUSTOMER_ROLE, PERMISSIONS, find_tenant

#: The operator's role: whoever runs `sluice` on the server holds the database itself.
OPERATOR = "operator"
#: Actions only the operator may take: no tenant user manages tenants.
OPERATOR_ONLY = frozenset({"tenants.read", "tenants.write"})
_OPERATOR_PERMISSIONS = frozenset().union(*PERMISSIONS.values()) | OPERATOR_ONLY


@dataclass(frozen=True)
class Actor:
    """A role acting in a tenant (or, for the operator, possibly in none yet)."""

    name: str  # recorded in histories: the user's email, or cli:<login>
    role: str
    tenant: Tenant | None
    user: User | None = None
    #: Set for a customer's own user: it may act on that customer's leads and money alone.
    customer: Customer | None = None

    @property
    def permissions(self) -> frozenset[str]:
        """Return what the role may do."""
        if self.role == OPERATOR:
            return _OPERATOR_PERMISSIONS
        if self.role == CUSTOMER_ROLE:
            return CUSTOMER_PERMISSIONS if self.customer is not None else frozenset()
        return PERMISSIONS.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        """Tell whether the role grants the permission."""
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise ForbiddenError unless the role grants the permission."""
        if not self.can(permission):
            raise ForbiddenError(f"Your role ({self.role}) lacks the {permission} permission.")

    def acting_tenant(self) -> Tenant:
        """Return the tenant acted in; an operator must have named one."""
        if self.tenant is None:
            raise InvalidError("this action needs a tenant")
        return self.tenant


def user_actor(user: User) -> Actor:
    """Return the actor of an authenticated user: a tenant's, or a customer's own (whose
    actor acts for that customer alone)."""
    if user.customer_id is None:
        return Actor(name=user.email, role=user.role, tenant=user.tenant, user=user)
    # Whatever its row says, a customer's user holds the customer role and nothing more.
    return Actor(
        name=user.email, role=CUSTOMER_ROLE, tenant=user.tenant, user=user, customer=user.customer
    )


def operator_actor(tenant_ref: str | None = None) -> Actor:
    """Return the operator acting in the tenant with this code or slug (or in none)."""
    tenant = find_tenant(tenant_ref) if tenant_ref is not None else None
    return Actor(name=_login(), role=OPERATOR, tenant=tenant)


def _login() -> str:
    """Return who runs the command, for the histories (`cli:<login>`)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
