"""Secrets at rest: destinations' headers and signing secrets, encrypted with Fernet.

The key comes from SLUICE_SECRET_KEY: one or more urlsafe-base64 32-byte Fernet keys,
comma-separated. The first encrypts; every one decrypts, so a key is rotated by putting
the new one first and keeping the old ones after it while values encrypted with them remain
(every save re-encrypts with the first). Plain values are never logged.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.domain.errors import UnavailableError

_cipher: MultiFernet | None = None


def parse_keys(raw: str) -> MultiFernet:
    """Return the cipher of comma-separated Fernet keys; ValueError names a malformed one."""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ValueError("SLUICE_SECRET_KEY is empty")
    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                f"SLUICE_SECRET_KEY key {number} is not a Fernet key (32 bytes, urlsafe base64:"
                " make one with `python -c 'from cryptography.fernet import Fernet;"
                " print(Fernet.generate_key().decode())'`)"
            ) from None
    return MultiFernet(fernets)


def use_keys(raw: str | None) -> None:
    """Encrypt and decrypt with these keys from now on (None: no key, secrets refused)."""
    global _cipher
    _cipher = parse_keys(raw) if raw else None


def new_key() -> str:
    """Return a new Fernet key (what SLUICE_SECRET_KEY holds)."""
    return Fernet.generate_key().decode("ascii")


def _current() -> MultiFernet:
    if _cipher is None:
        raise UnavailableError(
            "SLUICE_SECRET_KEY is not set: delivery destinations keep their secrets encrypted"
        )
    return _cipher


def encrypt(plain: str) -> str:
    """Return the text encrypted with the first key."""
    return _current().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Return the text a token encrypted with any of the keys holds."""
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise UnavailableError(
            "a stored secret does not decrypt with SLUICE_SECRET_KEY (was the key changed?)"
        ) from None
