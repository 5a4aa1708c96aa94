"""Tenants and their users: creation, look-up, token authentication, roles."""

from __future__ import annotations

import re

import peewee as pw

from app.domain.errors import ConflictError, InvalidError, NotFoundError
from app.store.db import database
from app.store.models import Customer, Tenant, User
from app.store.secrets import (
    hash_secret,
    new_secret,
    new_tenant_code,
    public_id,
    secret_matches,
    slugify,
)

ROLES = ("admin", "rules_author", "analyst", "viewer")
_READ = {
    "leads.read",
    "posts.read",
    "customers.read",
    "sources.read",
    "rules.read",
    "webhooks.read",
    "deliveries.read",
    "partners.read",
}
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset(_READ),
    # leads.export: every lead's personal data at once, for those who analyse them.
    "analyst": frozenset(_READ | {"leads.explain", "leads.export"}),
    "rules_author": frozenset(_READ | {"leads.explain", "rules.push", "rules.rollback"}),
    "admin": frozenset(
        _READ
        | {"leads.explain", "leads.export", "rules.push", "rules.rollback", "leads.reprocess"}
        | {"leads.review", "leads.delete", "leads.edit", "leads.import"}
        | {"leads.return", "leads.return_override", "leads.claim"}
        | {"sources.write", "customers.write", "wallets.deposit", "users.write"}
        | {"webhooks.write", "deliveries.retry", "partners.write"}
    ),
}
#: A customer's own users (the customer API): each acts for its customer alone, and every
#: service that grants them an action restricts it to that customer's leads and money.
CUSTOMER_ROLE = "customer"
CUSTOMER_PERMISSIONS = frozenset({"customer.read", "leads.return", "leads.claim"})
#: Token prefixes: a tenant user's opens the admin API, a customer user's the customer API.
USER_TOKEN = "sut"
CUSTOMER_TOKEN = "sct"
_CODE = re.compile(r"[A-Z0-9]{8}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def create_tenant(name: str, code: str | None = None, admin_email: str | None = None):
    """Create a tenant and its first admin user; return (tenant, user, plain user token)."""
    name = name.strip()
    if not name:
        raise InvalidError("a tenant needs a name")
    if code is not None:
        code = code.strip().upper()
        if not _CODE.fullmatch(code):
            raise InvalidError("a tenant code is 8 letters or digits")
    with database.atomic():
        if code is None:
            code = new_tenant_code()
            while Tenant.select().where(Tenant.code == code).exists():
                code = new_tenant_code()
        elif Tenant.select().where(Tenant.code == code).exists():
            raise ConflictError(f"tenant code {code} is taken")
        base = slugify(name)
        slug, n = base, 1
        while Tenant.select().where(Tenant.slug == slug).exists():
            n += 1
            slug = f"{base}-{n}"
        try:
            tenant = Tenant.create(name=name, code=code, slug=slug)
        except pw.IntegrityError:
            raise ConflictError("a tenant with this code or slug was created meanwhile") from None
        user, token = create_user(tenant, admin_email or f"admin@{slug}.invalid", "admin")
    return tenant, user, token


def find_tenant(ref: str) -> Tenant:
    """Return the tenant with this code or slug."""
    ref = ref.strip()
    tenant = (
        Tenant.select().where((Tenant.code == ref.upper()) | (Tenant.slug == ref.lower())).first()
    )
    if tenant is None:
        raise NotFoundError(f"no tenant with code or slug {ref!r}")
    return tenant


def list_tenants() -> list[Tenant]:
    """Return every tenant, oldest first."""
    return list(Tenant.select().order_by(Tenant.id))


def create_user(tenant: Tenant, email: str, role: str):
    """Create a user of the tenant; return (user, plain token)."""
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise InvalidError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if User.select().where((User.tenant == tenant) & (User.email == email)).exists():
        raise ConflictError(f"user {email} exists already")
    token = new_secret(USER_TOKEN)
    user = User.create(
        public_id=public_id("usr"),
        tenant=tenant,
        email=email,
        role=role,
        token_hash=hash_secret(token),
    )
    return user, token


def list_users(tenant: Tenant) -> list[User]:
    """Return the tenant's users (its customers' too, with their customer), oldest first."""
    return list(
        User.select(User, Customer)
        .join(Customer, pw.JOIN.LEFT_OUTER)
        .where(User.tenant == tenant)
        .order_by(User.id)
    )


def create_customer_user(customer: Customer, email: str) -> tuple[User, str]:
    """Give a customer a user of its own (the customer API); return (user, plain token).

    An email the tenant already uses is refused, but a deactivated user of this same
    customer is activated again, with a new token.
    """
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidError(f"{email!r} is not an email address", {"email": ["Not an email."]})
    token = new_secret(CUSTOMER_TOKEN)
    with database.atomic():
        known = User.select().where((User.tenant == customer.tenant_id) & (User.email == email))
        user = known.first()
        if user is None:
            try:
                with database.atomic():
                    user = User.create(
                        public_id=public_id("usr"),
                        tenant=customer.tenant_id,
                        customer=customer.id,
                        email=email,
                        role=CUSTOMER_ROLE,
                        token_hash=hash_secret(token),
                    )
            except pw.IntegrityError:
                raise ConflictError(f"user {email} was created meanwhile") from None
            return user, token
        if user.customer_id != customer.id or user.active:
            raise ConflictError(f"user {email} exists already")
        # Only while inactive: of two adds at once, one activates, the other is refused.
        activated = (
            User.update(active=True, token_hash=hash_secret(token))
            .where((User.id == user.id) & (User.active == False))  # noqa: E712
            .execute()
        )
        if not activated:
            raise ConflictError(f"user {email} exists already")
    return User.get_by_id(user.id), token


def list_customer_users(customer: Customer) -> list[User]:
    """Return a customer's users, active or not, oldest first."""
    return list(User.select().where(User.customer == customer.id).order_by(User.id))


def deactivate_customer_user(customer: Customer, ref: str) -> User:
    """Deactivate the customer's user with this email or id: its token stops working."""
    ref = ref.strip()
    user = (
        User.select()
        .where(
            (User.customer == customer.id) & ((User.email == ref.lower()) | (User.public_id == ref))
        )
        .first()
    )
    if user is None:
        raise NotFoundError(f"customer {customer.slug} has no user {ref[:254]!r}")
    User.update(active=False).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


def authenticate_user(token: str) -> User | None:
    """Return the active user holding this token (a tenant's or a customer's), or None."""
    if not token.startswith((f"{USER_TOKEN}_", f"{CUSTOMER_TOKEN}_")):
        return None
    digest = hash_secret(token)
    user = (
        User.select(User, Tenant, Customer)
        .join(Tenant)
        .switch(User)
        .join(Customer, pw.JOIN.LEFT_OUTER)
        .where((User.token_hash == digest) & (User.active == True))  # noqa: E712
        .first()
    )
    if user is None or not secret_matches(token, user.token_hash):
        return None
    return user


def rotate_user_token(user: User) -> str:
    """Give the user a new token (the old one stops working); return it."""
    token = new_secret(CUSTOMER_TOKEN if user.customer_id is not None else USER_TOKEN)
    User.update(token_hash=hash_secret(token)).where(User.id == user.id).execute()
    return token
