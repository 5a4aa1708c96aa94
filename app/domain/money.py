"""Money: stored as integer cents, shown as decimals."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from app.domain.errors import InvalidError

CENT = Decimal("0.01")
#: Larger amounts are refused: their cents, summed in a wallet, must stay in a BIGINT.
MAX_AMOUNT = Decimal("1000000000000")


def to_cents(amount: Decimal | str | int | float, *, allow_negative: bool = False) -> int:
    """Return an amount in whole cents; refuse fractions of a cent and non-numbers."""
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise InvalidError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite():
        raise InvalidError(f"{amount!r} is not an amount of money")
    if abs(value) >= MAX_AMOUNT:
        raise InvalidError(f"{amount} is too large: amounts are below {MAX_AMOUNT:,}")
    if value != value.quantize(CENT):
        raise InvalidError(f"{amount} has fractions of a cent")
    if value < 0 and not allow_negative:
        raise InvalidError(f"{amount} is negative")
    return int(value * 100)


def from_cents(cents: int) -> Decimal:
    """Return whole cents as a two-place Decimal."""
    return (Decimal(cents) / 100).quantize(CENT)


def as_number(cents: int) -> float | int:
    """Return cents as a JSON number (45 -> 0.45, 4500 -> 45.0)."""
    return float(from_cents(cents))
