"""Who is calling: a source (intake) or a tenant user (admin), from the Authorization header."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, request
from flask_smorest import Blueprint

from app.api.errors import Forbidden, Unauthorized
from app.store.sources import authenticate_basic, authenticate_bearer
from app.store.tenants import authenticate_user, has_permission


def authenticate_source():
    """Return the source authenticated by HTTP Basic (key, secret) or a bearer token."""
    auth = request.authorization
    source = None
    if auth is not None and auth.type == "basic" and auth.username and auth.password:
        source = authenticate_basic(auth.username, auth.password)
    elif auth is not None and auth.type == "bearer" and auth.token:
        source = authenticate_bearer(auth.token)
    if source is None:
        raise Unauthorized(
            "Authenticate with HTTP Basic (API key and secret) or Authorization: Bearer <token>."
            if auth is None
            else "Invalid credentials."
        )
    g.source = source
    return source


def authenticate_admin():
    """Return the tenant user authenticated by `Authorization: Bearer <user token>`."""
    auth = request.authorization
    user = None
    if auth is not None and auth.type == "bearer" and auth.token:
        user = authenticate_user(auth.token)
    if user is None:
        raise Unauthorized("Authenticate with Authorization: Bearer <user token>.", realm="admin")
    g.user = user
    g.tenant = user.tenant
    return user


def require(permission: str) -> Callable:
    """Decorate a view: the caller must be a user whose role grants the permission."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = authenticate_admin()
            if not has_permission(user, permission):
                raise Forbidden(f"Your role ({user.role}) lacks the {permission} permission.")
            return view(*args, **kwargs)

        return Blueprint.doc(
            security=[{"userBearer": []}],
            description=f"Requires the `{permission}` permission.",
        )(wrapper)

    return decorate
