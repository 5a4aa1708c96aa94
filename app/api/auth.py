"""Who is calling: a source (intake) or a tenant user (admin), from the Authorization header."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps

from flask import g, request
from flask_smorest import Blueprint
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import Forbidden, Unauthorized
from app.services.actor import Actor, user_actor
from app.store.models import Source
from app.store.sources import authenticate_basic, authenticate_bearer
from app.store.tenants import authenticate_user


def find_calling_source() -> Source | None:
    """Return the source authenticated by HTTP Basic (key, secret) or a bearer credential.

    Bearer credentials are native tokens (`sbt_`) or Routio API keys (`srk_`); each opens
    only a source of its own style, and Basic only a native source.
    """
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.username and auth.password:
        return authenticate_basic(auth.username, auth.password)
    if auth is not None and auth.type == "bearer" and auth.token:
        return authenticate_bearer(auth.token)
    return None


def guess_api_style() -> str:
    """Return the API style to answer an unauthenticated intake request in.

    A Routio key (`srk_`) means Routio, Basic credentials or a native token native; without
    either, a `seller` field (query string or body) means Routio.
    """
    auth = request.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return "routio" if auth.token.startswith("srk_") else "native"
    if auth is not None and auth.type == "basic":
        return "native"
    if "seller" in request.args:
        return "routio"
    try:
        body = request.get_json(silent=True) if request.is_json else request.form
    except (RequestEntityTooLarge, RecursionError):  # too big, or nested too deep
        return "native"
    return "routio" if isinstance(body, Mapping) and "seller" in body else "native"


def unauthorized(style: str) -> Unauthorized:
    """Return the 401 of an intake request without valid credentials: none sent, or wrong."""
    auth = request.authorization
    sent = auth is not None and bool(auth.token or auth.username or auth.password)
    if style == "routio":
        if not sent:
            return Unauthorized("Send your API key: Authorization: Bearer <api key>.")
        if auth.type != "bearer":
            return Unauthorized("Send your API key as Authorization: Bearer <api key>.")
        return Unauthorized(
            "This API key is not valid: unknown, revoked, or its source is inactive."
        )
    if not sent:
        return Unauthorized(
            "Authenticate with HTTP Basic (API key and secret) or Authorization: Bearer <token>."
        )
    return Unauthorized("Invalid credentials.")


def authenticate_admin() -> Actor:
    """Return the actor of the tenant user authenticated by `Authorization: Bearer <token>`.

    A customer's user is known but refused (403): its token opens the customer API only.
    """
    auth = request.authorization
    user = None
    if auth is not None and auth.type == "bearer" and auth.token:
        user = authenticate_user(auth.token)
    if user is None:
        raise Unauthorized("Authenticate with Authorization: Bearer <user token>.", realm="admin")
    if user.customer_id is not None:
        raise Forbidden("A customer's token opens the customer API (/api/customer) only.")
    g.user = user
    g.tenant = user.tenant
    g.actor = user_actor(user)
    return g.actor


def authenticate_customer() -> Actor:
    """Return the actor of the customer's user authenticated by `Authorization: Bearer <token>`.

    A tenant user's token is known but refused (403): it opens the admin API only.
    """
    auth = request.authorization
    user = None
    if auth is not None and auth.type == "bearer" and auth.token:
        user = authenticate_user(auth.token)
    if user is None:
        raise Unauthorized(
            "Authenticate with Authorization: Bearer <customer token>.", realm="customer"
        )
    if user.customer_id is None:
        raise Forbidden(
            "A tenant user's token opens the admin API (/api/admin) only; the customer API "
            "takes a customer user's token (sct_...)."
        )
    g.user = user
    g.tenant = user.tenant
    g.actor = user_actor(user)
    return g.actor


def customer_access(view: Callable) -> Callable:
    """Decorate a customer API view: authenticate the customer's user (`g.actor`)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate_customer()
        return view(*args, **kwargs)

    return Blueprint.doc(
        security=[{"customerBearer": []}],
        description="Takes a customer user's token; answers for that customer alone.",
    )(wrapper)


def require(permission: str) -> Callable:
    """Decorate an admin view: authenticate the user and document the permission it needs.

    The services refuse what a role lacks; the view's permission is asked of the actor
    here too, before the request body is read, so that a refusal never depends on the
    body (a 403 rather than a 422) and nothing is parsed for a caller who may not act.
    """

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            authenticate_admin().require(permission)
            return view(*args, **kwargs)

        return Blueprint.doc(
            security=[{"userBearer": []}],
            description=f"Requires the `{permission}` permission.",
        )(wrapper)

    return decorate
