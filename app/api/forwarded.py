"""What the proxies in front of Sluice saw: the client's address and the public base URL.

With SLUICE_TRUSTED_PROXIES=N, the N-th entry from the right of an X-Forwarded-* header is
the one the outermost trusted proxy wrote (each proxy appends what it received); entries
further left were written by the client and prove nothing. With 0, the headers are ignored.
"""

from __future__ import annotations

import re

from flask import Request, current_app, request

_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def forwarded_value(req: Request, header: str) -> str | None:
    """Return the entry of an X-Forwarded-* header the outermost trusted proxy wrote, or None."""
    hops = int(current_app.config.get("TRUSTED_PROXIES") or 0)
    if hops <= 0:
        return None
    entries = [
        part.strip()
        for value in req.headers.getlist(header)
        for part in value.split(",")
        if part.strip()
    ]
    return entries[-hops] if len(entries) >= hops else None


def client_ip(req: Request) -> str:
    """Return the client's IP: the address the trusted proxies saw, else the peer's."""
    return forwarded_value(req, "X-Forwarded-For") or req.remote_addr or "unknown"


def public_base_url() -> str:
    """Return the base URL integrators reach the service at: SLUICE_PUBLIC_URL when set,
    else the current request's scheme and host, as the trusted proxies received them."""
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    scheme = forwarded_value(request, "X-Forwarded-Proto") or request.scheme
    host = forwarded_value(request, "X-Forwarded-Host")
    if host is None or not _HOST.fullmatch(host):
        host = request.host
    if scheme not in ("http", "https"):
        scheme = request.scheme
    return f"{scheme}://{host}"
