"""Identifiers and credentials.

Secrets (source API secrets, bearer tokens, user tokens) are 256-bit random strings made
here, so a single SHA-256 is enough to store them: there is nothing to brute-force, unlike
a password, and a fast hash lets a token be looked up by its hash. Comparisons use
`hmac.compare_digest`. The plain value is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

from ulid import ULID

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def public_id(prefix: str) -> str:
    """Return `prefix_` + a lower-case ULID (26 characters, sortable by creation time)."""
    return f"{prefix}_{str(ULID()).lower()}"


def new_secret(prefix: str) -> str:
    """Return a new high-entropy credential, prefixed to tell its kind at a glance."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 of a credential (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Tell, in constant time, whether a credential has the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_tenant_code() -> str:
    """Return a random 8-character tenant code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def slugify(text: str) -> str:
    """Return a lower-case ASCII slug of a name ("Acme Solar, Inc." -> "acme-solar-inc")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "tenant"
