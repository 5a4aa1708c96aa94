"""Tenants and their users: create, list, and who the caller is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.services.actor import Actor
from app.store import tenants as store
from app.store.models import Tenant, User


@dataclass(frozen=True)
class CreatedUser:
    user: User
    token: str  # shown once: only its hash is stored


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    admin: CreatedUser


def create_tenant(
    actor: Actor, name: str, code: str | None = None, admin_email: str | None = None
) -> CreatedTenant:
    """Create a tenant and its first admin user (operator only)."""
    actor.require("tenants.write")
    tenant, user, token = store.create_tenant(name, code, admin_email)
    return CreatedTenant(tenant, CreatedUser(user, token))


def list_tenants(actor: Actor) -> list[Tenant]:
    """Return every tenant, oldest first (operator only)."""
    actor.require("tenants.read")
    return store.list_tenants()


def create_user(actor: Actor, email: str, role: str) -> CreatedUser:
    """Create a user of the actor's tenant with a role."""
    actor.require("users.write")
    user, token = store.create_user(actor.acting_tenant(), email, role)
    return CreatedUser(user, token)


def list_users(actor: Actor) -> list[User]:
    """Return the users of the actor's tenant."""
    actor.require("users.write")
    return store.list_users(actor.acting_tenant())


def describe_actor(actor: Actor) -> dict[str, Any]:
    """Return the actor's user, tenant and permissions."""
    actor.require("leads.read")
    return {"user": actor.user, "tenant": actor.tenant, "permissions": sorted(actor.permissions)}
