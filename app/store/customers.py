"""Customers and their wallets. Every balance change writes a wallet entry."""

from __future__ import annotations

import re
from typing import Any

import peewee as pw

from app.domain.errors import ConflictError, InvalidError, NotFoundError
from app.store.db import database, is_postgresql
from app.store.models import Customer, Lead, Tenant, WalletEntry
from app.store.secrets import public_id

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def create_customer(tenant: Tenant, slug: str, name: str, balance_cents: int = 0) -> Customer:
    """Create a customer, with an opening deposit when the balance is not zero."""
    slug = slug.strip()
    if not _SLUG.fullmatch(slug):
        raise InvalidError(
            "a customer slug is lower-case letters, digits, '-' or '_', starting with a letter "
            "or digit"
        )
    if not name.strip():
        raise InvalidError("a customer needs a name")
    with database.atomic():
        if Customer.select().where((Customer.tenant == tenant) & (Customer.slug == slug)).exists():
            raise ConflictError(f"customer {slug} exists already")
        try:
            customer = Customer.create(
                public_id=public_id("cus"), tenant=tenant, slug=slug, name=name.strip()
            )
        except pw.IntegrityError:
            raise ConflictError(f"customer {slug} exists already") from None
        if balance_cents:
            deposit(customer, balance_cents, note="opening balance")
    return Customer.get_by_id(customer.id)


def find_customer(tenant: Tenant, ref: str) -> Customer:
    """Return the tenant's customer with this slug or public id."""
    customer = (
        Customer.select()
        .where((Customer.tenant == tenant) & ((Customer.slug == ref) | (Customer.public_id == ref)))
        .first()
    )
    if customer is None:
        raise NotFoundError(f"no customer {ref!r}")
    return customer


def list_customers(tenant: Tenant) -> list[Customer]:
    """Return the tenant's customers by slug."""
    return list(Customer.select().where(Customer.tenant == tenant).order_by(Customer.slug))


def customer_public_ids(tenant: Tenant) -> dict[int, str]:
    """Return {row id: public id} of the tenant's customers."""
    query = Customer.select(Customer.id, Customer.public_id).where(Customer.tenant == tenant)
    return {row_id: public for row_id, public in query.tuples()}


def customer_slugs(tenant: Tenant) -> set[str]:
    """Return the slugs of the tenant's customers."""
    return {c.slug for c in Customer.select(Customer.slug).where(Customer.tenant == tenant)}


def deposit(customer: Customer, amount_cents: int, note: str = "deposit") -> Customer:
    """Add money to a customer's wallet."""
    if amount_cents <= 0:
        raise InvalidError("a deposit must be more than zero")
    with database.atomic():
        (
            Customer.update(balance_cents=Customer.balance_cents + amount_cents)
            .where(Customer.id == customer.id)
            .execute()
        )
        balance = Customer.select(Customer.balance_cents).where(Customer.id == customer.id).scalar()
        WalletEntry.create(
            customer=customer.id,
            kind="deposit",
            amount_cents=amount_cents,
            balance_after_cents=balance,
            note=note[:200],
        )
    return Customer.get_by_id(customer.id)


def wallet_entries(customer: Customer, limit: int = 50, offset: int = 0) -> list[WalletEntry]:
    """Return a customer's wallet entries, newest first, each with its lead's public id."""
    return list(
        WalletEntry.select(WalletEntry, Lead.id, Lead.public_id)
        .join(Lead, pw.JOIN.LEFT_OUTER)
        .where(WalletEntry.customer == customer.id)
        .order_by(WalletEntry.created_at.desc(), WalletEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )


def count_wallet_entries(customer: Customer) -> int:
    """Return how many wallet entries a customer has."""
    count: int = WalletEntry.select().where(WalletEntry.customer == customer.id).count()
    return count


def set_active(customer: Customer, active: bool) -> Customer:
    """Activate or deactivate a customer (inactive customers win no bids)."""
    Customer.update(active=active).where(Customer.id == customer.id).execute()
    return Customer.get_by_id(customer.id)


def update_customer(customer: Customer, changes: dict[str, Any]) -> Customer:
    """Change a customer's name, return policy (`return_window_days`, `return_limit_percent`:
    None for no limit) or claims a day (`claims_per_day`: None for no limit), as checked by
    the caller; return it as stored."""
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise InvalidError("a customer needs a name", {"name": ["give a name"]})
    if changes:
        Customer.update(**changes).where(Customer.id == customer.id).execute()
    return Customer.get_by_id(customer.id)


def lock_customers(tenant: Tenant | int, slugs: set[str]) -> dict[str, Customer]:
    """Return the tenant's customers with these slugs, row-locked until the transaction ends.

    The rows are locked in id order, so two transactions locking overlapping sets never
    deadlock. On SQLite the whole transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    query = _customers(tenant, slugs).order_by(Customer.id)
    if is_postgresql():
        query = query.for_update()
    return {customer.slug: customer for customer in query}


def _customers(tenant: Tenant | int, slugs: set[str]):
    return Customer.select().where((Customer.tenant == tenant) & Customer.slug.in_(sorted(slugs)))
